"""Class mode: rooms, pushes ("follow me"), polls, answers and exercise progress, kept in a small store.

No streamlit here (the page and the follow fragment live in ``components/classroom_view.py`` and
``app_pages/class_room.py``). The store is SQLite in the app's data directory by default and Redis when several
replicas must share rooms: ``TX_CLASS_STORE=sqlite:///path/to/class.db`` or ``redis://host:port/db``.
"""
from classroom.store import (  # noqa: F401
    ANSWER_LIMIT, ROOM_TTL_S, BadAnswer, BadName, BadRoomCode, BadToken, ClassError, Poll, RateLimited, Room,
    RedisStore, RoomExpired, SQLiteStore, Store, StoreUnavailable, clean_answer, clean_code, clean_name, open_store,
    to_csv,
)
