"""The admin JSON API (`Authorization: Bearer $DIGEST_ADMIN_TOKEN`), one router per resource."""

from fastapi import APIRouter, Depends

from app.web.api import feeds, issues, posts, sending, sources, subscribers
from app.web.deps import require_admin_token

router = APIRouter(prefix="/api", dependencies=[Depends(require_admin_token)])
router.include_router(subscribers.router)
router.include_router(issues.router)
router.include_router(posts.router)
router.include_router(feeds.router)
router.include_router(sending.router)
router.include_router(sources.router)
