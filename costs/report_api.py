"""Report endpoints: summary, grouped costs, org-unit rollup, budget variance; JSON or CSV.

Views validate the query string with a serializer from ``report_serializers`` and call a
selector in ``costs.reports``; money leaves as strings rounded to the currency's minor unit.
"""

import csv
import io
from datetime import date
from decimal import Decimal
from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework.renderers import BaseRenderer, BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from orgunits.models import OrganizationUnit
from orgunits.selectors import unit_is_visible

from . import reports
from .report_serializers import (
    CostReportParamsSerializer,
    RollupParamsSerializer,
    SummaryParamsSerializer,
)

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: Any) -> Any:
    """A value safe for spreadsheets: text that would start a formula gets a leading quote
    (numbers such as ``-5.00`` stay numbers)."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_PREFIXES):
        try:
            Decimal(value)
        except ArithmeticError:
            return "'" + value
    return value


class CSVRenderer(BaseRenderer):
    """``?format=csv``: a list of flat rows (or ``results`` of a dict) as CSV with a header.

    Errors (status >= 400) become ``field,message`` rows so a script still gets the reason.
    """

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        response = (renderer_context or {}).get("response")
        if isinstance(data, dict) and response is not None and response.status_code >= 400:
            rows = [
                {"field": k, "message": "; ".join(map(str, v if isinstance(v, list) else [v]))}
                for k, v in data.items()
            ]
        elif isinstance(data, dict):
            rows = data.get("csv_rows", data.get("results", [data]))
        else:
            rows = data or []
        out = io.StringIO()
        header: list[str] = []
        for row in rows:
            for key in row:
                if key not in header:
                    header.append(key)
        writer = csv.DictWriter(out, fieldnames=header, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: csv_cell(v) for k, v in row.items()})
        return out.getvalue().encode(self.charset)


def money(amount: Decimal | None, currency: str) -> str:
    return str(reports.round_money(amount or reports.ZERO, currency))


def group_value(key: str, value: Any) -> Any:
    if value is None:
        return None
    if key == "month":
        return value.strftime("%Y-%m")
    if key == "quarter":
        return f"{value.year}-Q{(value.month - 1) // 3 + 1}"
    if isinstance(value, date):
        return value.isoformat()
    return value


def _name_column(key: str) -> str | None:
    return f"{key}_name" if key in reports.OBJECT_KEYS else None


class ReportView(APIView):
    renderer_classes = [JSONRenderer, BrowsableAPIRenderer, CSVRenderer]

    def params(self, serializer_class, request: Request):
        serializer = serializer_class(data=request.query_params, context={"request": request})
        serializer.is_valid(raise_exception=True)
        return serializer

    def wants_csv(self, request: Request) -> bool:
        return getattr(request.accepted_renderer, "format", None) == "csv"


@extend_schema(parameters=[CostReportParamsSerializer], responses={200: dict})
class CostReportView(ReportView):
    """Approved spend grouped by up to two keys, in one currency and per original currency.

    ``group_by``: organization_unit, entity, resource, category, provider, currency,
    ``tag:KEY``, day, month, quarter (comma-separated, at most two). ``currency`` converts the
    reporting-currency totals at the latest rate on or before ``end`` (default: today).
    """

    def get(self, request: Request) -> Response:
        params = self.params(CostReportParamsSerializer, request)
        d = params.validated_data
        keys = d["group_by"]
        currency = d["currency"]
        rate = reports.report_rate(currency, on=d.get("end"))
        filters = {"user": request.user, **params.selector_filters()}
        rows = reports.cost_totals(group_by=keys, **filters)
        per_currency = reports.cost_totals_by_currency(group_by=keys, **filters)
        labels = reports.group_labels(rows, keys)
        shown: dict[tuple, Any] = {}  # a month or day is formatted once, not once per row

        def value_of(k: str, v: Any) -> Any:
            got = shown.get((k, v), shown)
            if got is shown:
                got = shown[(k, v)] = group_value(k, v)
            return got

        def shape(r: dict, amount_key: str, amount_currency: str) -> dict:
            out: dict[str, Any] = {}
            for k in keys if amount_key == "total" else [k for k in keys if k != "currency"]:
                out[k] = value_of(k, r[k])
                if _name_column(k):
                    out[_name_column(k)] = labels.get(k, {}).get(r[k])
            if amount_key == "total":
                out["total"] = str(reports.in_currency(r["total"], currency=currency, rate=rate))
            else:
                out["currency"] = r["currency"]
                out["amount"] = money(r["amount"], r["currency"])
            out["count"] = r["count"]
            return out

        results = [shape(r, "total", currency) for r in rows if r["count"]]
        grand = sum((r["total"] for r in rows), reports.ZERO)
        body = {
            "group_by": list(keys),
            "currency": currency,
            "start": d.get("start"),
            "end": d.get("end"),
            "status": list(d["status"]),
            "organization_unit": d["organization_unit"].pk if d.get("organization_unit") else None,
            "include_descendants": d["include_descendants"],
            "total": str(reports.in_currency(grand, currency=currency, rate=rate)),
            "count": sum(r["count"] for r in rows),
            "results": results,
            "by_currency": [shape(r, "amount", r["currency"]) for r in per_currency],
        }
        return Response(body)


@extend_schema(parameters=[SummaryParamsSerializer], responses={200: dict})
class SummaryView(ReportView):
    """Seed 001's cost summary for the current ``period`` or ``start``/``end``."""

    def get(self, request: Request) -> Response:
        params = self.params(SummaryParamsSerializer, request)
        start, end = params.period_bounds()
        d = params.validated_data
        currency = d["currency"]
        rate = reports.report_rate(currency, on=end)
        summary = reports.cost_summary(
            user=request.user,
            start=start,
            end=end,
            unit=d.get("organization_unit"),
            include_descendants=d["include_descendants"],
            statuses=d["status"],
        )

        def conv(amount: Decimal) -> str:
            return str(reports.in_currency(amount, currency=currency, rate=rate))

        body = {
            "total": conv(summary["total"]),
            "currency": currency,
            "by_category": {k: conv(v) for k, v in summary["by_category"].items()},
            "by_resource": {k: conv(v) for k, v in summary["by_resource"].items()},
            "by_tag": {
                key: {value: conv(v) for value, v in values.items()}
                for key, values in summary["by_tag"].items()
            },
            "entry_count": summary["entry_count"],
            "period_start": start,
            "period_end": end,
        }
        if self.wants_csv(request):
            body["csv_rows"] = _summary_rows(body)
        return Response(body)


def _summary_rows(body: dict) -> list[dict]:
    base = {"period_start": body["period_start"], "period_end": body["period_end"]}
    rows = [{**base, "dimension": "total", "key": "", "value": "", "total": body["total"]}]
    for dim in ("by_category", "by_resource"):
        for key, total in body[dim].items():
            rows.append({**base, "dimension": dim[3:], "key": key, "value": "", "total": total})
    for key, values in body["by_tag"].items():
        for value, total in values.items():
            rows.append({**base, "dimension": "tag", "key": key, "value": value, "total": total})
    for row in rows:
        row["currency"] = body["currency"]
    return rows


@extend_schema(parameters=[RollupParamsSerializer], responses={200: dict})
class RollupView(ReportView):
    """A unit's own approved spend and each child's subtree total (404 for a unit you
    cannot see). ``currency`` gives the totals in that currency, converted like
    ``/reports/costs/`` (at the latest rate on or before ``end``, default today); the
    ``*_by_currency`` figures stay in each original currency."""

    def get(self, request: Request, pk: int) -> Response:
        unit = get_object_or_404(OrganizationUnit, pk=pk)
        if not unit_is_visible(user=request.user, unit=unit):
            return Response({"detail": "Not found.", "code": "not_found"}, status=404)
        d = self.params(RollupParamsSerializer, request).validated_data
        cur = d["currency"]
        rate = reports.report_rate(cur, on=d.get("end"))
        result = reports.rollup(
            unit=unit,
            user=request.user,
            start=d.get("start"),
            end=d.get("end"),
            statuses=d["status"],
        )

        def conv(amount: Decimal) -> str:
            return str(reports.in_currency(amount, currency=cur, rate=rate))

        def by_cur(values: dict) -> dict:
            return {c: money(v, c) for c, v in values.items()}

        body = {
            "unit": {"id": unit.pk, "code": unit.code, "name": unit.name},
            "currency": cur,
            "start": d.get("start"),
            "end": d.get("end"),
            "status": list(d["status"]),
            "own": conv(result.own),
            "total": conv(result.total),
            "own_by_currency": by_cur(result.own_by_currency),
            "total_by_currency": by_cur(result.total_by_currency),
            "children": [
                {
                    "id": c["unit"].pk,
                    "code": c["unit"].code,
                    "name": c["unit"].name,
                    "total": conv(c["total"]),
                    "total_by_currency": by_cur(c["total_by_currency"]),
                }
                for c in result.children
            ],
        }
        if self.wants_csv(request):
            body["csv_rows"] = [
                {"unit_id": unit.pk, "code": unit.code, "name": unit.name, "row": "own",
                 "total": body["own"], "currency": cur},
                *[
                    {"unit_id": c["id"], "code": c["code"], "name": c["name"], "row": "child",
                     "total": c["total"], "currency": cur}
                    for c in body["children"]
                ],
                {"unit_id": unit.pk, "code": unit.code, "name": unit.name, "row": "total",
                 "total": body["total"], "currency": cur},
            ]  # fmt: skip
        return Response(body)
