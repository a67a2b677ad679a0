"""Administration over HTTP: a tenant's API keys, and the server's tenants for the operator.

Declared as a feature: see ``docs/admin.md``.
"""

from __future__ import annotations

from sessionkeeper.admin.routes import router
from sessionkeeper.admin.service import AdminService
from sessionkeeper.feature import Feature

FEATURE: Feature[AdminService] = Feature(name="admin", build=AdminService, routers=[router])
