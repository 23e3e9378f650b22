"""Helpers for the recording tests: tokens for each role, test audio (tones, µ-law), and
decoding what the service returns with PyAV."""

from __future__ import annotations

import io
import time
import uuid
from typing import Any

import av
import jwt
import numpy as np

from aicc.core.tokens import ACCESS_TOKEN_TYPE

SECRET = "recording-tests-shared-secret-32-bytes!"
ISSUER = "http://127.0.0.1:8003"


def bearer(*roles: str, user_id: str = "user-1", username: str = "agent001") -> dict[str, str]:
    now = int(time.time())
    claims = {
        "iss": ISSUER,
        "aud": "aicc",
        "sub": user_id,
        "preferred_username": username,
        "sid": f"session-{uuid.uuid4().hex[:8]}",
        "iat": now,
        "nbf": now,
        "exp": now + 86400,
        "jti": uuid.uuid4().hex,
        "roles": list(roles),
    }
    token = jwt.encode(claims, SECRET, algorithm="HS256", headers={"typ": ACCESS_TOKEN_TYPE})
    return {"Authorization": f"Bearer {token}"}


def tone(frequency: float, seconds: float, rate: int = 8000, level: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (np.sin(2 * np.pi * frequency * t) * level * 32767).astype(np.int16)


def interleave(*channels: np.ndarray) -> bytes:
    return np.stack(channels, axis=1).astype("<i2").tobytes()


def mulaw_encode(samples: np.ndarray) -> bytes:
    """G.711 µ-law, as telephony (and Twilio) sends it."""
    x = samples.astype(np.int32)
    sign = np.where(x < 0, 0x80, 0)
    magnitude = np.minimum(np.abs(x), 32635) + 0x84
    exponent = np.floor(np.log2(magnitude)).astype(np.int32) - 7
    mantissa = (magnitude >> (exponent + 3)) & 0x0F
    encoded: bytes = (~(sign | (exponent << 4) | mantissa) & 0xFF).astype(np.uint8).tobytes()
    return encoded


def mulaw_decode(data: bytes) -> np.ndarray:
    u = ~np.frombuffer(data, dtype=np.uint8).astype(np.int32) & 0xFF
    sign = u & 0x80
    exponent = (u >> 4) & 0x07
    mantissa = u & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return np.where(sign != 0, -magnitude, magnitude).astype(np.int16)


def decode(data: bytes) -> tuple[int, int, np.ndarray, str]:
    """(sample rate, channels, int16 frames × channels, codec) of an encoded file."""
    with av.open(io.BytesIO(data), "r") as container:
        stream = container.streams.audio[0]
        rate, channels, codec = stream.rate, stream.channels, stream.codec_context.name
        resampler = av.AudioResampler(format="s16", layout="stereo" if channels == 2 else "mono")
        parts: list[np.ndarray] = []
        for frame in container.decode(stream):
            for out in resampler.resample(frame):
                parts.append(out.to_ndarray().reshape(-1, channels))
        for out in resampler.resample(None):
            parts.append(out.to_ndarray().reshape(-1, channels))
    frames = np.concatenate(parts) if parts else np.zeros((0, channels), dtype=np.int16)
    return rate, channels, frames, codec


def dominant_frequency(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples.astype(np.float64) * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[int(np.argmax(spectrum))])


def error_code(response: Any) -> str:
    code: str = response.json()["error"]["code"]
    return code
