"""Runs examples/*.ipynb with nbclient at a tiny size: the values of its `parameters` cell replaced, papermill-style.

Each notebook keeps a user's real sizes in its cell tagged `parameters`; `execute` inserts a cell after it that
sets the test's values (as papermill does) and runs every cell in a fresh kernel. A cell that raises makes
`execute` raise nbclient's `CellExecutionError`, with the cell's source and traceback.
"""

import pathlib

import nbformat

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"


def tagged(notebook, tag):
    """The index of the one cell tagged `tag`."""
    cells = [i for i, cell in enumerate(notebook.cells) if tag in cell.metadata.get("tags", [])]
    assert len(cells) == 1, f"expected one cell tagged {tag!r}, found {len(cells)}"
    return cells[0]


def with_parameters(notebook, parameters):
    """`notebook` with a cell setting `parameters` inserted after its `parameters` cell; each must be assigned there."""
    index = tagged(notebook, "parameters")
    assigned = set()
    for line in notebook.cells[index].source.splitlines():
        if "=" in line and not line.startswith((" ", "#")):
            assigned.update(name.strip() for name in line.split("=")[0].split(","))
    unknown = sorted(set(parameters) - assigned)
    assert not unknown, f"not set in the notebook's parameters cell: {unknown}"
    source = "\n".join(f"{name} = {value!r}" for name, value in parameters.items())
    notebook.cells.insert(index + 1, nbformat.v4.new_code_cell(source, metadata={"tags": ["injected-parameters"]}))
    return notebook


def execute(notebook, parameters, cwd, timeout=300):
    """Runs `notebook` (a name in examples/, or a notebook) with `parameters` in a fresh kernel in `cwd`; returns it run."""
    from nbclient import NotebookClient

    if isinstance(notebook, str):
        notebook = nbformat.read(EXAMPLES / notebook, as_version=4)
    notebook = with_parameters(notebook, parameters)
    NotebookClient(notebook, timeout=timeout, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}).execute()
    return notebook


def printed(notebook):
    """Everything the notebook's code cells printed (stdout and stderr streams)."""
    return "".join(output.get("text", "") for cell in notebook.cells if cell.cell_type == "code"
                   for output in cell.outputs)
