"""The MCP server over one archive: its tools, the schema as a resource, and the guide prompt.

Every tool only reads and is bounded (`Archive`). A failure a user can act on (a refused
statement, a table that is not there, a query stopped at its time bound) comes back as a tool
error of one line, redacted; anything unexpected is a tool error saying so, logged without its
traceback unless LOG_LEVEL=DEBUG. No input makes the server itself fail.

(No `from __future__ import annotations` here: the SDK reads the tools' annotations, and some
name the database's dialect, a value of `build_server`, so they are evaluated where written.)
"""

import json
from collections.abc import Callable
from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp.server.mcpserver.exceptions import ResourceError, ToolError
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field

from .._config.settings import Settings
from .._core.errors import HarvesterError
from .._core.logs import get_logger
from .._core.redact import redact_text
from .._tables.summary import summaries
from .._version import __version__
from . import guide, health, questions
from .archive import Archive

log = get_logger("harvester.mcp")

READ_ONLY = ToolAnnotations(
    read_only_hint=True, destructive_hint=False, idempotent_hint=True, open_world_hint=False
)

CustId = Annotated[int, Field(description="the driver's iRacing cust_id", ge=1, lt=2**53)]
Limit = Annotated[int, Field(ge=1, le=10_000)]
SeasonId = Annotated[int, Field(description="iRacing's season_id", ge=1, lt=2**53)]
CategoryId = Annotated[
    int | None,
    Field(description="1 oval, 2 road, 3 dirt oval, 4 dirt road, 5 sports car, 6 formula"),
]


def answer(tool: str, work: Callable[[], dict[str, Any]]) -> CallToolResult:
    """Run a tool's work: its answer as compact JSON text (and as structured content), or a
    tool error of one redacted line."""
    try:
        data = work()
    except HarvesterError as exc:
        message = redact_text(str(exc) or type(exc).__name__)
        log.info("mcp.tool_refused", tool=tool, error=message)
        raise ToolError(message) from None
    except Exception as exc:
        log.error("mcp.tool_failed", tool=tool, error=f"{type(exc).__name__}: {exc}", exc_info=True)
        raise ToolError(
            f"unexpected {type(exc).__name__} in {tool} (the server's log has the details)"
        ) from None
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"), default=str)
    return CallToolResult(content=[TextContent(type="text", text=text)], structured_content=data)


def tables_overview(archive: Archive) -> dict[str, Any]:
    """Every table the assistant may read: what it holds and how many rows."""
    analysis = [
        {
            "table": s.name,
            "rows": s.rows,
            "last_update": s.last_update,
            "description": s.description,
            "fed_by": list(s.feeds),
        }
        for s in summaries(archive.engine)
    ]
    raw = [
        {
            "table": t.name,
            "kind": t.kind,
            "rows": archive.count(t.name) if t.kind == "table" else None,
            "description": t.doc,
        }
        for t in guide.RAW_TABLES.values()
    ]
    return {
        "database": archive.dialect,
        "analysis_tables": analysis,
        "raw_archive": raw,
        "note": "ask the analysis tables first (plain columns, each entity once); views are "
        "not counted; describe_table gives a table's columns with units",
    }


def build_server(archive: Archive, settings: Settings) -> MCPServer:
    """The server, its tools bound to `archive` (and `settings`, for the jobs file)."""
    dialect = archive.dialect
    server: MCPServer = MCPServer(
        "harvester",
        title="harvester: an iRacing archive",
        description="Read-only questions to an archive of iRacing's /data API.",
        instructions=guide.relations(dialect),
        version=__version__,
    )

    @server.tool(annotations=READ_ONLY)
    def list_tables() -> CallToolResult:
        """The tables of the archive: what each holds, its row count, when it last changed."""
        return answer("list_tables", lambda: tables_overview(archive))

    @server.tool(annotations=READ_ONLY)
    def describe_table(
        table: Annotated[str, Field(description="a name from list_tables", max_length=200)],
    ) -> CallToolResult:
        """A table's columns: type, unit and meaning of each, its key, what feeds it."""
        return answer("describe_table", lambda: guide.describe(table))

    @server.tool(annotations=READ_ONLY)
    def query(
        sql: Annotated[
            str, Field(description=f"one read-only {dialect} statement", max_length=100_000)
        ],
        limit: Annotated[int, Field(description="rows to return at most", ge=1)] = 100,
    ) -> CallToolResult:
        """Run one read-only SQL statement on the archive and return its rows.

        The same barriers as `harvester query`: a read-only connection, an allow-list of
        functions, a time bound. The answer is cut at `limit` rows (at most the server's
        bound), at a size in bytes, and long text values are shortened; it says when it was."""
        return answer("query", lambda: archive.rows(sql, limit).as_dict())

    @server.tool(annotations=READ_ONLY)
    def find_driver(
        name: Annotated[str, Field(description="part of a driver's name, or a cust_id")],
        limit: Limit = 20,
    ) -> CallToolResult:
        """Drivers whose name holds the text (any case), with their cust_id and races."""
        return answer("find_driver", lambda: questions.find_driver(archive, name, limit))

    @server.tool(annotations=READ_ONLY)
    def driver_races(cust_id: CustId, limit: Limit = 10) -> CallToolResult:
        """A driver's latest races, newest first: series, track, car, start and finish,
        incidents, and the iRating each race gained or lost."""
        return answer("driver_races", lambda: questions.driver_races(archive, cust_id, limit))

    @server.tool(annotations=READ_ONLY)
    def season_standings(
        season_id: SeasonId,
        car_class_id: Annotated[int | None, Field(description="one car class only")] = None,
        limit: Limit = 25,
    ) -> CallToolResult:
        """A season's standings over the races the archive holds: points, wins, podiums,
        average finish, incidents per driver."""
        return answer(
            "season_standings",
            lambda: questions.season_standings(archive, season_id, car_class_id, limit),
        )

    @server.tool(annotations=READ_ONLY)
    def irating_history(
        cust_id: CustId, category_id: CategoryId = None, limit: Limit = 100
    ) -> CallToolResult:
        """A driver's iRating over time, oldest first: after each race, and the daily chart
        when it was harvested; a summary per category."""
        return answer(
            "irating_history",
            lambda: questions.irating_history(archive, cust_id, category_id, limit),
        )

    @server.tool(annotations=READ_ONLY)
    def harvest_health() -> CallToolResult:
        """Is the harvest healthy: the service, each job's last run and success, the jobs
        failing, the recent runs and failures."""
        return answer("harvest_health", lambda: health.harvest_health(archive, settings))

    @server.resource(
        "harvester://schema",
        name="schema",
        title="The archive's tables and columns",
        description="Every readable table: its columns, their types, units and meanings.",
        mime_type="text/markdown",
    )
    def schema() -> str:
        return guide.schema_markdown(dialect)

    @server.resource(
        "harvester://tables/{table}",
        name="table",
        title="One table's columns",
        mime_type="application/json",
    )
    def table_resource(table: str) -> str:
        try:
            return json.dumps(guide.describe(table), ensure_ascii=False)
        except HarvesterError as exc:
            raise ResourceError(redact_text(str(exc))) from None

    @server.prompt(
        name="archive_guide",
        title="How the archive's tables relate",
        description="The tables, how they join, their units and conventions.",
    )
    def archive_guide() -> str:
        return guide.relations(dialect)

    @server.prompt(
        name="driver_report",
        title="A driver's recent form",
        description="Ask for a summary of a driver's recent races and iRating.",
    )
    def driver_report(
        driver: Annotated[str, Field(description="a driver's name or cust_id")],
    ) -> str:
        return (
            f"Summarise the recent form of the iRacing driver {driver!r} from the harvester "
            "archive: look them up with find_driver, then use driver_races and irating_history. "
            "Say how their iRating moved, their best and worst results, and their incidents."
        )

    return server
