"""AICC operator console: server-rendered pages over the four services' HTTP APIs.

A backend-for-frontend: the browser holds only a session cookie; the user's tokens stay in
the server-side session store. Nothing is imported here, so ``import aicc.console`` needs no
optional dependency; the app is ``aicc.console.app.create_app``.
"""
