"""A KG Inicis INIAPI stand-in: v1 ``/api/v1/refund`` (form only: a JSON body reads as no
fields) and v2 ``/v2/pg/inquiry`` (JSON), each recomputing ``hashData`` with the merchant's
INIAPI key and refusing a mismatch as Inicis does (``ERR205 hashData 불일치``).

Answers seen from the real API: a refund of an unknown tid is ``01 해당거래 없음``, a second
refund ``01 기 취소 거래`` with ``detailResultCode 512626``. The hash uses the paymethod Inicis
recorded for the tid (a refund naming another paymethod fails the hash, as it does live).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from urllib.parse import parse_qsl

import orjson
from fastapi import Request, Response

from tests.integration.fakes.common import FakeProvider

KST = timezone(timedelta(hours=9))
TEST_MID = "INIpayTest"
TEST_API_KEY = "ItEQKi3rY7uvDS8l"
"""Inicis's published test merchant and its INIAPI key."""
TIMESTAMP = re.compile(r"^\d{14}$")


@dataclass
class Approval:
    tid: str
    mid: str
    oid: str
    price: int
    paymethod: str
    remaining: int
    status: str = "APPROVAL"
    partial_count: int = 0


def sha512_hex(text: str) -> str:
    return hashlib.sha512(text.encode()).hexdigest()


def result(code: str, message: str, **fields: Any) -> Response:
    body = {"resultCode": code, "resultMsg": message, **fields}
    return Response(orjson.dumps(body), media_type="application/json;charset=UTF-8")


def kst_now() -> datetime:
    return datetime.now(UTC).astimezone(KST)


class FakeInicis(FakeProvider):
    def __init__(self, keys: dict[str, str] | None = None) -> None:
        super().__init__("KG Inicis INIAPI stand-in")
        self.keys = keys or {TEST_MID: TEST_API_KEY}
        self.approvals: dict[str, Approval] = {}
        self.refunds = 0
        self._routes()

    def approve(self, price: int, *, paymethod: str = "Card", mid: str = TEST_MID) -> Approval:
        """An approved payment (what INIStdPay leaves behind), 40-character tid."""
        stamp = kst_now().strftime("%Y%m%d%H%M%S")
        tid = f"Stdpay{paymethod.upper()[:4]}{mid}{stamp}{secrets.token_hex(4)}"[:40]
        approval = Approval(tid, mid, "oid-" + secrets.token_hex(6), price, paymethod, price)
        self.approvals[tid] = approval
        return approval

    def _routes(self) -> None:
        @self.app.post("/api/v1/refund")
        async def refund(request: Request) -> Response:
            form = await _form(request)
            missing = [
                name
                for name in ("type", "paymethod", "timestamp", "clientIp", "mid", "tid", "hashData")
                if not form.get(name)
            ]
            if missing:
                return result("01", f"필수 파라미터 누락 ({missing[0]})")
            kind = form["type"]
            if kind not in ("Refund", "PartialRefund"):
                return result("01", "지원하지 않는 type 입니다.")
            if not TIMESTAMP.match(form["timestamp"]) or not _recent(form["timestamp"]):
                return result("01", "timestamp 형식 오류 (YYYYMMDDhhmmss)")
            key = self.keys.get(form["mid"])
            if key is None:
                return result("01", "등록되지 않은 상점아이디 입니다.")
            approval = self.approvals.get(form["tid"])
            paymethod = approval.paymethod if approval else form["paymethod"]
            plain = (
                key
                + kind
                + paymethod
                + form["timestamp"]
                + form["clientIp"]
                + form["mid"]
                + form["tid"]
            )
            if kind == "PartialRefund":
                plain += form.get("price", "") + form.get("confirmPrice", "")
            if form["hashData"] != sha512_hex(plain):
                return result("ERR205", "hashData 불일치")
            if approval is None or approval.mid != form["mid"]:
                return result("01", "해당거래 없음")
            if kind == "Refund":
                return self._refund(approval)
            return self._partial(approval, form)

        @self.app.post("/v2/pg/inquiry")
        async def inquiry(request: Request) -> Response:
            if not request.headers.get("content-type", "").startswith("application/json"):
                return result("01", "Content-Type 은 application/json 이어야 합니다.")
            try:
                body = orjson.loads(await request.body())
            except orjson.JSONDecodeError:
                return result("01", "요청 전문 오류")
            if not isinstance(body, dict) or not isinstance(body.get("data"), dict):
                return result("01", "필수 파라미터 누락 (data)")
            mid, kind, stamp = body.get("mid"), body.get("type"), str(body.get("timestamp", ""))
            key = self.keys.get(str(mid))
            if key is None:
                return result("01", "등록되지 않은 상점아이디 입니다.")
            if kind != "inquiry" or not TIMESTAMP.match(stamp):
                return result("01", "type 또는 timestamp 오류")
            data = body["data"]
            plain = key + str(mid) + kind + stamp + _compact(data)
            if body.get("hashData") != sha512_hex(plain):
                return result("ERR205", "hashData 불일치")
            found = (
                self.approvals.get(str(data.get("tid")))
                if "tid" in data
                else next((a for a in self.approvals.values() if a.oid == data.get("oid")), None)
            )
            if found is None or found.mid != mid:
                return result("01", "해당거래 없음")
            return result(
                "00",
                "정상처리되었습니다.",
                mid=found.mid,
                tid=found.tid,
                oid=found.oid,
                price=str(found.price),
                paymethod=found.paymethod,
                transactionStatus=found.status,
            )

    def _refund(self, approval: Approval) -> Response:
        stamp = kst_now()
        if approval.status == "CANCEL":
            return result(
                "01",
                "기 취소 거래",
                cancelDate=stamp.strftime("%Y%m%d"),
                cancelTime=stamp.strftime("%H%M%S"),
                receiptInfo="",
                cshrCancelNum="",
                detailResultCode="512626",
            )
        if approval.status == "PART_CANCEL":
            return result("01", "부분취소 이력이 있는 거래는 전체취소할 수 없습니다.")
        approval.status, approval.remaining = "CANCEL", 0
        self.refunds += 1
        return result(
            "00",
            "정상처리되었습니다.",
            cancelDate=stamp.strftime("%Y%m%d"),
            cancelTime=stamp.strftime("%H%M%S"),
            receiptInfo="",
            cshrCancelNum="",
            detailResultCode="0000",
        )

    def _partial(self, approval: Approval, form: dict[str, str]) -> Response:
        price, confirm = form.get("price", ""), form.get("confirmPrice", "")
        if not price.isdigit() or not confirm.isdigit():
            return result("01", "price, confirmPrice 는 숫자여야 합니다.")
        if approval.status == "CANCEL":
            return result("01", "기 취소 거래", detailResultCode="512626")
        if not 0 < int(price) <= approval.remaining:
            return result("01", "취소 가능 금액 초과")
        if int(confirm) != approval.remaining - int(price):
            return result("01", "재승인 요청금액(confirmPrice) 불일치")
        approval.remaining -= int(price)
        approval.partial_count += 1
        approval.status = "CANCEL" if approval.remaining == 0 else "PART_CANCEL"
        self.refunds += 1
        stamp = kst_now()
        return result(
            "00",
            "정상처리되었습니다.",
            tid=f"StdpayPART{approval.mid}{stamp.strftime('%Y%m%d%H%M%S')}{secrets.token_hex(4)}"[
                :40
            ],
            prtcTid=approval.tid,
            prtcPrice=price,
            prtcRemains=str(approval.remaining),
            prtcCnt=str(approval.partial_count),
            prtcType="1",
            prtcDate=stamp.strftime("%Y%m%d"),
            prtcTime=stamp.strftime("%H%M%S"),
            receiptInfo="",
        )


async def _form(request: Request) -> dict[str, str]:
    """Form fields; any other body (JSON) carries none, as INIAPI v1 reads it."""
    if not request.headers.get("content-type", "").startswith("application/x-www-form-urlencoded"):
        return {}
    return dict(parse_qsl((await request.body()).decode(), keep_blank_values=True))


def _recent(stamp: str) -> bool:
    try:
        at = datetime.strptime(stamp, "%Y%m%d%H%M%S").replace(tzinfo=KST)
    except ValueError:
        return False
    return abs((kst_now() - at).total_seconds()) < 600


def _compact(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))
