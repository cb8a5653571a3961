"""The routes' hops between the provinces' one-stop systems and the NDXP gateway (FM-10).

- :mod:`hops.lgsp` — the provincial LGSP (*nền tảng tích hợp, chia sẻ dữ liệu cấp tỉnh*),
  carrying NDXP's own URLs;
- :mod:`hops.vdxp` — VDXP as an X-Road-style route speaking PR-REST
  (``/r1/{instance}/{class}/{member}/{subsystem}/{service}/...``).

Each is its own process (``ndxp-sim serve-lgsp`` / ``serve-vdxp``, started by ``ndxp-sim up``)
with its own exchange ids, log (:mod:`hops.log`), faults (scenario rules with ``hop: lgsp`` /
``hop: vdxp``) and metrics. The layer sits beside the gateway: it talks to it over HTTP only.
"""

from hops.lgsp import create_lgsp_app
from hops.vdxp import create_vdxp_app

__all__ = ["create_lgsp_app", "create_vdxp_app"]
