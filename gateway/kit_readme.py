"""The kit's README, in Vietnamese then English (*hướng dẫn kết nối*).

Everything a province's developer needs on one page: who the kit is for, the addresses and
credentials, how to get a token, a first call with the province's own sample ids, the daily
quotas, how to run the Postman collection, and where the code table is.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from gateway.kit_codes import render_markdown

if TYPE_CHECKING:
    from gateway.kit import KitConsumer
    from gateway.kit_codes import CodeRow
    from gateway.kit_openapi import KitOperation


def _first_call(operations: list[KitOperation], gateway_url: str) -> str:
    from gateway.kit_postman import sample_url

    first = next((op for op in operations if op.method == "GET" and op.sample), None)
    if first is None:
        return ""
    return f"curl -s -H \"Authorization: Bearer $TOKEN\" '{gateway_url}{sample_url(first)}'"


def _samples_table(operations: list[KitOperation]) -> str:
    lines = ["| service | sample | values |", "|---|---|---|"]
    for op in operations:
        if op.sample is None:
            continue
        values = {**op.sample.path_params, **{k: str(v) for k, v in op.sample.query.items()}}
        shown = ", ".join(f"`{k}={v}`" for k, v in values.items()) or (
            "JSON body in the collection" if op.sample.body else "from a linked answer"
        )
        lines.append(f"| `{op.service}` | {op.sample.summary} | {shown} |")
    return "\n".join(lines)


def _quotas(consumer: KitConsumer) -> str:
    items = [
        f"- all services: {consumer.daily_quota:,} requests/day" if consumer.daily_quota else ""
    ]
    items += [f"- `{s}`: {n:,} requests/day" for s, n in sorted(consumer.service_quotas.items())]
    return "\n".join(i for i in items if i) or "- none"


def render_readme(
    consumer: KitConsumer,
    *,
    gateway_url: str,
    operations: list[KitOperation],
    codes: list[CodeRow],
    files: Mapping[str, str],
) -> str:
    """README.md of the kit."""
    token = (
        f"curl -s -X POST {gateway_url}/oauth2/token -d grant_type=client_credentials \\\n"
        f'     -d client_id={consumer.client_id} -d client_secret="$NDXP_CLIENT_SECRET"'
    )
    first = _first_call(operations, gateway_url)
    listing = "\n".join(f"- `{name}` — {what}" for name, what in files.items())
    sandbox = consumer.sandbox_note()
    subscriptions = ", ".join(f"`{s}`" for s in consumer.subscriptions) or "none"
    return f"""\
# NDXP connection kit — {consumer.name}

Bộ tài liệu kết nối NDXP (*Nền tảng tích hợp, chia sẻ dữ liệu quốc gia*) cho hệ thống
`{consumer.id}` (mã tỉnh {consumer.province or "—"}). English below.

## Tiếng Việt

**Địa chỉ và thông tin xác thực**

- Cổng NDXP (môi trường thử nghiệm): `{gateway_url}`
- Lấy token: `POST {gateway_url}/oauth2/token` (OAuth2 client credentials)
- `client_id`: `{consumer.client_id}` — `client_secret`: trong `credentials.env`
  (giữ bí mật; không gửi qua nhóm chat).
- Dịch vụ được phép gọi: {subscriptions}
{f"- Khung giờ thử nghiệm: {sandbox}" if sandbox else ""}

**Lấy token rồi gọi thử**

```sh
set -a; . ./credentials.env; set +a
TOKEN=$({token} | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
{first}
```

Token hết hạn sau vài phút: lấy token mới khi nhận 401 `unauthenticated`. Mỗi lệnh gọi đều có
`X-NDXP-Exchange-Id` — gửi mã này cho bộ phận vận hành khi cần hỗ trợ.

**Kiểm thử bằng Postman / newman**: nhập `postman/collection.json` và
`postman/environment.json` vào Postman, hoặc chạy
`newman run postman/collection.json -e postman/environment.json`. Mỗi yêu cầu kiểm tra mã
trạng thái, mã lượt trao đổi và lược đồ dữ liệu trả về theo hợp đồng.

**Hạn mức hằng ngày** (đặt lại lúc 0 giờ, giờ Việt Nam): xem phần English. Bảng mã lỗi đầy đủ:
`codes.md` — lỗi do cổng NDXP tạo có header `X-NDXP-Error`; lỗi của CSDL quốc gia được chuyển
nguyên trạng, không có header này.

## English

**Addresses and credentials**

- NDXP gateway (sandbox): `{gateway_url}`; OpenAPI 3.1 of your services as seen through it:
  `openapi.yaml` (`servers`, security scheme, every gateway status and header).
- Token: `POST {gateway_url}/oauth2/token` (OAuth2 client credentials, form fields or HTTP Basic).
- `client_id`: `{consumer.client_id}`; `client_secret`: in `credentials.env` (keep it secret).
- Subscribed services: {subscriptions}
{f"- Sandbox window: {sandbox}" if sandbox else ""}

**Get a token, make a first call**

```sh
set -a; . ./credentials.env; set +a
TOKEN=$({token} | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
{first}
```

Tokens are short-lived: get a new one on 401 `unauthenticated`. Every answer carries
`X-NDXP-Exchange-Id`: quote it to ops.

**Daily quotas** (reset at local midnight, Asia/Ho_Chi_Minh; watch `RateLimit` on answers):

{_quotas(consumer)}

**Postman / newman**: import `postman/collection.json` and `postman/environment.json`, or run
`newman run postman/collection.json -e postman/environment.json`. The collection gets and
caches the token itself; every request checks the documented success status, the exchange
id, the body against the contract's schema and that no contract violation was flagged.

**Sample ids of your province** (they exist in the sandbox; `samples.json` has them all):

{_samples_table(operations)}

**Codes you can receive** (also `codes.md`, `codes.json`): gateway-made errors carry
`X-NDXP-Error`; a national database's own errors are passed on unchanged, without it.

{render_markdown(codes)}
**Files**

{listing}
"""
