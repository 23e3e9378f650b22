"""Users."""

MESSAGES: dict[str, dict[str, str]] = {
    "ko": {
        "users.title": "사용자",
        "users.search": "이름, 사용자 이름 또는 이메일",
        "users.username": "사용자 이름",
        "users.name": "이름",
        "users.email": "이메일",
        "users.roles": "역할",
        "users.status": "상태",
        "users.active": "사용",
        "users.inactive": "사용 중지",
        "users.mfa": "2단계 인증",
        "users.none": "찾은 사용자가 없습니다.",
        "users.count": "전체 {total}명",
    },
    "en": {
        "users.title": "Users",
        "users.search": "Name, username or email",
        "users.username": "Username",
        "users.name": "Name",
        "users.email": "Email",
        "users.roles": "Roles",
        "users.status": "Status",
        "users.active": "Active",
        "users.inactive": "Disabled",
        "users.mfa": "Two-step",
        "users.none": "No users found.",
        "users.count": "{total} in all",
    },
}
