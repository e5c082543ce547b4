"""The demo's MCP tool server (run over stdio by sample_app.py): a card-risk lookup another team owns.

Started with the app's environment, so ``DRIFTLINE_AUTO_INSTRUMENT=true`` instruments it too: its
``tools/call`` span continues the app's trace through the trace context in the request's ``_meta``.
"""

from __future__ import annotations

from mcp.server.mcpserver import MCPServer

server = MCPServer("driftline-demo-risk")


@server.tool()
def card_risk(card_id: str) -> dict[str, object]:
    """Recent chargebacks and the risk tier of a card."""
    return {"card_id": card_id, "chargebacks_90d": 2, "tier": "elevated"}


if __name__ == "__main__":
    server.run("stdio")
