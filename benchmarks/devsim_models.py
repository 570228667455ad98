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


def electrolyte_equations(ds, device: str, region: str, transient: bool = False) -> None:
    """The 1:1 electrolyte both DEVSIM comparisons solve, in scaled units (x in
    the Debye length, psi in V_T, c in c0, time in lambda^2/D): node solutions
    Potential, Cation, Anion; Gauss's law, sum over edges of (psi_0 - psi_1)/h
    plus the box volume times (c- - c+)/2; and each ion's balance of its
    Scharfetter-Gummel fluxes n0 -> n1 (D = 1), with the amount in the box as
    the time term when ``transient``. Contacts are the caller's."""
    for name in ("Potential", "Cation", "Anion"):
        ds.node_solution(device=device, region=region, name=name)
        ds.edge_from_node_model(device=device, region=region, node_model=name)
    edge, node = derivative_builders(ds, device, region)
    edge("Field", "(Potential@n0 - Potential@n1) * EdgeInverseLength", ["Potential"])
    node("MinusRho", "0.5 * (Anion - Cation)", ["Cation", "Anion"])
    ds.equation(
        device=device,
        region=region,
        name="Gauss",
        variable_name="Potential",
        node_model="MinusRho",
        edge_model="Field",
    )
    up, down = "B(Potential@n1 - Potential@n0)", "B(Potential@n0 - Potential@n1)"
    edge("CationFlux", f"EdgeInverseLength * ({up} * Cation@n0 - {down} * Cation@n1)",
         ["Potential", "Cation"])  # fmt: skip
    edge("AnionFlux", f"EdgeInverseLength * ({down} * Anion@n0 - {up} * Anion@n1)",
         ["Potential", "Anion"])  # fmt: skip
    for ion in ("Cation", "Anion"):
        time_term = {}
        if transient:
            node(f"{ion}Amount", ion, [ion])
            time_term = {"time_node_model": f"{ion}Amount"}
        ds.equation(
            device=device,
            region=region,
            name=f"{ion}Balance",
            variable_name=ion,
            edge_model=f"{ion}Flux",
            variable_update="positive",
            **time_term,
        )
