"""The admin JSON API (`Authorization: Bearer $DIGEST_ADMIN_TOKEN`), one router per resource.

Every route takes and answers Pydantic models (from the domain packages' `schemas`); errors are
answered in `app.web.errors`, the same for every route.
"""

from fastapi import APIRouter, Depends

from app.web.api import feeds, issues, posts, sending, sources, subscribers
from app.web.deps import require_admin_token
from app.web.errors import API_REFUSALS, refusals

router = APIRouter(
    prefix="/api",
    dependencies=[Depends(require_admin_token)],
    # A body sent without a Content-Type is read as JSON, as scripts often send it.
    strict_content_type=False,
    responses=refusals(API_REFUSALS),
)
router.include_router(subscribers.router)
router.include_router(issues.router)
router.include_router(posts.router)
router.include_router(feeds.router)
router.include_router(sending.router)
router.include_router(sources.router)
