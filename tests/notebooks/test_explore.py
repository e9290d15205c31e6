"""notebooks/explore.ipynb runs top to bottom on the sample warehouse and draws its plots."""

import nbformat
from nbclient import NotebookClient

from tests.conftest import ROOT, SAMPLE_CORPUS
from warehouse import Warehouse
from warehouse.pipeline import run_ingest

NOTEBOOK = ROOT / "notebooks" / "explore.ipynb"


def test_the_committed_notebook_has_no_outputs():
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code)


def test_the_notebook_runs_on_the_sample_warehouse(tmp_path, monkeypatch):
    summary = run_ingest(SAMPLE_CORPUS, Warehouse(tmp_path / "wh"))
    monkeypatch.setenv("NEWSFRONT_WAREHOUSE", str(tmp_path / "wh"))
    monkeypatch.delenv("MPLBACKEND", raising=False)  # the kernel's inline backend draws PNGs
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    NotebookClient(
        notebook,
        timeout=180,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    ).execute()  # raises on the first cell that fails
    outputs = [out for cell in notebook.cells if cell.cell_type == "code" for out in cell.outputs]
    assert not [out for out in outputs if out.output_type == "error"]
    images = [out for out in outputs if "image/png" in out.get("data", {})]
    assert len(images) == 5  # months, providers, topics, story sizes, one story
    printed = "".join(out.get("text", "") for out in outputs if out.output_type == "stream")
    assert f"articles: {summary['articles']:,}" in printed
    assert "story_clusters: " in printed
