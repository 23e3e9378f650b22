"""The framework ceiling: a bare FastAPI app whose only route returns a small dict.

uvicorn bare:app --app-dir bench/apps --no-access-log --loop uvloop --http httptools
"""

from fastapi import FastAPI

app = FastAPI()


@app.get("/health")
async def health() -> dict[str, str]:
    return {"status": "ok", "service": "bare"}
