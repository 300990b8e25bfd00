"""The tutorial notebooks: stored with their outputs, and they run top to bottom on CPU, offline."""

import re
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"
NAMES = ["01_knowledge_distillation.ipynb", "02_continual_learning.ipynb"]

# Cells tagged in the notebooks, and the rows each must print.
EXPECTED_ROWS = {
    "01_knowledge_distillation.ipynb": {
        "accuracy-table": ["teacher", "student (scratch)", "student (distilled"],
    },
    "02_continual_learning.ipynb": {
        "summary-table": ["fine-tuning", "LwF", "iCaRL"],
    },
}


def tagged(nb, tag):
    cells = [c for c in nb.cells if tag in c.get("metadata", {}).get("tags", [])]
    assert len(cells) == 1, f"expected one cell tagged {tag!r}, found {len(cells)}"
    return cells[0]


def text_of(cell):
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


def images(nb):
    return [o for c in nb.cells if c.cell_type == "code" for o in c.outputs if "image/png" in o.get("data", {})]


@pytest.mark.parametrize("name", NAMES)
def test_stored_notebook_has_outputs(name):
    # Stored executed, so that GitHub shows the tables and figures.
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(c.execution_count is not None for c in code), "some cells were never executed"
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
    assert len(images(nb)) >= 3
    for tag, rows in EXPECTED_ROWS[name].items():
        output = text_of(tagged(nb, tag))
        assert all(row in output for row in rows), output


# About 20 s each on two CPU cores (the notebooks run torch single-threaded); not marked slow.
@pytest.mark.parametrize("name", NAMES)
def test_notebook_executes(name, tmp_path):
    path = NOTEBOOKS / name
    stored = path.read_bytes()
    nb = nbformat.read(path, as_version=4)  # an in-memory copy; the stored file is never written
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
    # cwd = tmp_path: the runs' logs and checkpoints land there, not in the repository.
    client = nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError on the first failing cell

    assert not [o for c in nb.cells for o in c.get("outputs", []) if o.output_type == "error"]
    assert len(images(nb)) >= 3
    for tag, rows in EXPECTED_ROWS[name].items():
        output = text_of(tagged(nb, tag))
        for row in rows:
            line = next((line for line in output.splitlines() if line.startswith(row)), None)
            assert line is not None, f"no row {row!r} in\n{output}"
            accuracy = float(re.findall(r"\d+\.\d+", line)[0])
            assert 0.0 <= accuracy <= 1.0, line
    assert (tmp_path / "runs").is_dir()
    assert path.read_bytes() == stored
