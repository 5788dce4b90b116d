"""The web inspector at ``/emulator/``: studies, their series and instances, changes, events, operations, tools
(its routes are in ``api.routes``)."""

from __future__ import annotations

import json

from starlette.requests import Request
from starlette.responses import Response

from ..features.emulator_tools import overview
from ..features.events import views as events
from ..features.model_binding import integer_parameter
from ..features.operations import records as operations
from ..features.query.attributes import Resource
from ..features.query.parameters import parse_options
from ..features.query.service import search
from ..features.retrieve import rendered as rendered_feature
from ..features.scope import Scope
from .context import services_of, tools_scope
from .inspector_html import Html, dicom_value, link, page, query_string, section, table
from .inspector_html import text as as_text

PAGE_SIZE = 20
TAIL = 50
INSTANCES_SHOWN = 200
MAX_PAGE = 100_000


async def studies(request: Request) -> Response:
    """``/emulator/``: a page of studies, newest first, searchable by patient name (fuzzy)."""
    partition = request.query_params.get("partition")
    patient = request.query_params.get("patient", "").strip()
    number = integer_parameter("page", request.query_params.get("page", "1"), 1, MAX_PAGE)
    scope = await tools_scope(request, partition)
    filters = [("PatientName", patient), ("fuzzymatching", "true")] if patient else []
    paging = [("limit", str(PAGE_SIZE + 1)), ("offset", str((number - 1) * PAGE_SIZE))]
    options = parse_options([*filters, *paging, ("includefield", "00080061")])
    found = await _search(request, scope, Resource.ALL_STUDIES, options)
    rows = [
        (
            link(f"/emulator/pages/studies/{uid}{query_string(partition=partition)}", dicom_value(study, "00100010")),
            dicom_value(study, "00100020"),
            dicom_value(study, "00080020"),
            dicom_value(study, "00081030"),
            dicom_value(study, "00080061"),
            dicom_value(study, "00080050"),
            link(f"{scope.study_url(uid)}/metadata", uid),
        )
        for study in found[:PAGE_SIZE]
        if (uid := dicom_value(study, "0020000D"))
    ]
    form = Html(
        '<form method="get"><label>Patient name <input name="patient" value="'
        f'{as_text(patient)}"></label>'
        + (f'<input type="hidden" name="partition" value="{as_text(partition)}">' if partition else "")
        + " <button>Search</button></form>"
    )
    pager = []
    if number > 1:
        pager.append(link(query_string(patient=patient or None, partition=partition, page=number - 1), "« Newer"))
    if len(found) > PAGE_SIZE:
        pager.append(link(query_string(patient=patient or None, partition=partition, page=number + 1), "Older »"))
    headers = ["Patient", "Patient ID", "Date", "Description", "Modalities", "Accession", "Study (metadata)"]
    return page(
        f"Studies in {scope.partition_name}",
        form,
        table(headers, rows, "No study matches." if patient else "No study stored yet."),
        Html(" ".join(pager)),
    )


async def study(request: Request) -> Response:
    """``/emulator/pages/studies/{study}``: the study's series, and its instances with rendered thumbnails."""
    partition = request.query_params.get("partition")
    scope = await tools_scope(request, partition)
    uid = request.path_params["study"]
    series = await _search(request, scope, Resource.STUDY_SERIES, parse_options([]), uid)
    options = parse_options([("limit", str(INSTANCES_SHOWN))])
    instances = await _search(request, scope, Resource.STUDY_INSTANCES, options, uid)
    parts: list[object] = [Html(f"<p>{link(scope.study_url(uid) + '/metadata', 'Study metadata (DICOM JSON)')}</p>")]
    for one in series:
        series_uid = dicom_value(one, "0020000E")
        series_url = f"{scope.study_url(uid)}/series/{series_uid}"
        figures = []
        for instance in instances:
            if dicom_value(instance, "0020000E") != series_uid:
                continue
            sop = dicom_value(instance, "00080018")
            thumbnail = f"/emulator/thumbnails/{uid}/{series_uid}/{sop}{query_string(partition=partition)}"
            instance_url = scope.instance_url(uid, series_uid, sop)
            image = Html(f'<img src="{as_text(thumbnail)}" alt="instance {as_text(sop)}" loading="lazy">')
            figures.append(
                f"<figure>{link(instance_url + '/rendered', image)}"
                f"<figcaption>#{as_text(dicom_value(instance, '00200013'))} "
                f"{link(instance_url + '/metadata', sop)}</figcaption></figure>"
            )
        title = f"Series {dicom_value(one, '00200011')} {dicom_value(one, '00080060')} {dicom_value(one, '0008103E')}"
        parts.append(
            section(
                title.strip(),
                Html(f"<p>{link(series_url + '/metadata', series_uid)}</p>"),
                Html(f'<div class="thumbs">{"".join(figures)}</div>'),
            )
        )
    if not series:
        parts.append(Html('<p class="empty">This study has no instances.</p>'))
    return page(f"Study {uid}", *parts)


async def thumbnail(request: Request) -> Response:
    """``/emulator/thumbnails/{study}/{series}/{instance}``: the first frame rendered as JPEG, for ``<img>``.

    Browsers ask for images with several media ranges, which the rendered route refuses as Azure does.
    """
    scope = await tools_scope(request, request.query_params.get("partition"))
    params = request.path_params
    image = await rendered_feature.rendered(
        services_of(request), scope, ["image/jpeg"], params["study"], params["series"], params["instance"], None, None
    )
    return Response(image.data, media_type=image.media_type, headers={"Cache-Control": "max-age=60"})


async def change_feed(request: Request) -> Response:
    """``/emulator/pages/changefeed``: the newest change-feed entries."""
    scope = await tools_scope(request)
    entries = await overview.change_feed_tail(services_of(request), TAIL)
    rows = [
        (
            entry["sequence"],
            entry["timestamp"],
            entry["action"],
            entry["state"],
            link(f"{scope.study_url(entry['studyInstanceUid'])}/metadata", entry["studyInstanceUid"]),
            entry["seriesInstanceUid"],
            entry["sopInstanceUid"],
        )
        for entry in entries
    ]
    headers = ["Sequence", "Time", "Action", "State", "Study", "Series", "Instance"]
    feed_link = Html(f"<p>{link(scope.root_url + '/changefeed', 'The change feed (JSON)')}</p>")
    return page("Change feed", feed_link, table(headers, rows, "No change yet."))


async def events_page(request: Request) -> Response:
    """``/emulator/pages/events``: the inspector's newest events, the sinks and their dead letters."""
    services = services_of(request)
    parts: list[object] = []
    if services.events.inspector is None:
        parts.append(Html(f'<p class="empty">{as_text(events.INSPECTOR_DISABLED)}</p>'))
    else:
        received = (await events.inspector_events(services, "eventgrid"))[-TAIL:][::-1]
        rows = [
            (event["data"].get("sequenceNumber"), event["eventTime"], event["eventType"], event["subject"])
            for event in received
        ]
        parts.append(section("Events", table(["Sequence", "Time", "Type", "Subject"], rows, "No event yet.")))
    sinks = await events.sink_states(services)
    sink_rows = [
        (s["name"], s["type"], s["deliveredThroughSequence"], s["failedAttempts"], s["lastError"], s["validated"])
        for s in sinks
    ]
    sink_headers = ["Name", "Type", "Delivered through", "Failed attempts", "Last error", "Validated"]
    parts.append(section("Sinks", table(sink_headers, sink_rows, "No sink configured.")))
    letters = await events.dead_letters(services, None, TAIL)
    letter_rows = [
        (
            letter["sink"],
            letter["data"].get("sequenceNumber"),
            letter["deadLetterReason"],
            letter["lastDeliveryOutcome"],
        )
        for letter in letters
    ]
    letter_headers = ["Sink", "Sequence", "Reason", "Last outcome"]
    parts.append(section("Dead letters", table(letter_headers, letter_rows, "No dead letter.")))
    return page("Events", *parts)


async def operations_page(request: Request) -> Response:
    """``/emulator/pages/operations``: the newest long-running operations."""
    scope = await tools_scope(request)
    listed = await operations.newest(services_of(request), scope, TAIL)
    rows = [
        (
            link(operations.operation_url(scope, item["operationId"]), item["operationId"]),
            item["type"],
            item["status"],
            item["percentComplete"],
            item["createdTime"],
            Html("<br>".join(link(url, url.rsplit("/", 1)[1]) for url in item["resources"])),
        )
        for item in listed
    ]
    headers = ["Operation", "Type", "Status", "%", "Created", "Resources"]
    return page("Operations", table(headers, rows, "No operation yet."))


async def workitems_page(request: Request) -> Response:
    """``/emulator/pages/workitems``: the newest workitems, when this version of the index has them."""
    found = await overview.workitems(services_of(request), TAIL)
    if found is None:
        return page("Workitems", Html('<p class="empty">This emulator keeps no workitems.</p>'))
    columns, rows = found
    return page("Workitems", table(columns, rows, "No workitem yet."))


async def faults_page(request: Request) -> Response:
    """``/emulator/pages/faults``: the fault injection rules in force and how often each fired."""
    rules = await request.app.state.fault_book.listing(services_of(request))
    fields = ["id", "method", "path", "status", "probability", "count", "retry_after", "delay_ms", "fired"]
    rows = [[rule.get(name) for name in fields] for rule in rules]
    example = json.dumps([{"method": "GET", "path": "/v2/studies*", "status": 503, "count": 1}])
    hint = Html(f"<p>Set rules with <code>POST /emulator/faults</code>, e.g. <code>{as_text(example)}</code>.</p>")
    return page("Faults", hint, table(fields, rows, "No fault rule in force."))


async def requests_page(request: Request) -> Response:
    """``/emulator/pages/requests``: this server process's latest requests."""
    entries = request.app.state.request_log.latest(100)
    fields = ["time", "method", "path", "status", "durationMs", "requestId"]
    rows = [[entry[name] for name in fields] for entry in entries]
    note = Html('<p class="empty">Requests served by this server process, newest first.</p>')
    return page("Requests", note, table(["Time", "Method", "Path", "Status", "ms", "Request id"], rows))


async def _search(request: Request, scope: Scope, resource: Resource, options, study: str | None = None) -> list:
    result = await search(services_of(request), scope, resource, options, study)
    return json.loads(result.body) if result.count else []
