"""`harvester mcp`: the archive served to AI assistants over the Model Context Protocol,
read-only and bounded (`archive`), with tools for the common questions (`questions`, `health`),
the schema and a guide to the tables (`guide`), over stdio or streamable HTTP (`transport`)."""
