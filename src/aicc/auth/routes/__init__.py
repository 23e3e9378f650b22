from aicc.auth.routes import admin, me, sso, tokens

ROUTERS = (tokens.router, me.router, admin.router, sso.router)

__all__ = ["ROUTERS"]
