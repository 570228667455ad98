"""DEVSIM model builders shared by the steady (peers.py) and transient
(devsim_transient.py) comparisons: a model and its derivatives, by name."""

from __future__ import annotations


def derivative_builders(ds, device: str, region: str):
    """(edge, node): each defines a DEVSIM model ``name`` = ``expr`` on
    ``region`` of ``device`` and its derivatives with respect to each variable
    in ``wrt`` (``name:v@n0`` and ``name:v@n1`` on edges, ``name:v`` on
    nodes), the names DEVSIM's equation assembly looks up."""

    def edge(name, expr, wrt):
        ds.edge_model(device=device, region=region, name=name, equation=expr)
        for v in wrt:
            for end in ("n0", "n1"):
                ds.edge_model(
                    device=device,
                    region=region,
                    name=f"{name}:{v}@{end}",
                    equation=f"diff({expr}, {v}@{end})",
                )

    def node(name, expr, wrt):
        ds.node_model(device=device, region=region, name=name, equation=expr)
        for v in wrt:
            ds.node_model(
                device=device, region=region, name=f"{name}:{v}", equation=f"diff({expr}, {v})"
            )

    return edge, node
