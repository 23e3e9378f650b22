from aicc.recording.routes.chat import router as chat_router
from aicc.recording.routes.library import router as library_router
from aicc.recording.routes.voice import router as voice_router

ROUTERS = (voice_router, chat_router, library_router)

__all__ = ["ROUTERS"]
