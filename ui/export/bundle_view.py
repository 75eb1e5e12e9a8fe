"""The Export page's parts: pick a bundle (a run, or an uploaded zip), show it (with the class names and the input
normalisation every export carries), open it on the Build page, export it and offer each checked file for download
next to its largest difference from the trained model (model.py as a small zip with its weights and a README)."""

from __future__ import annotations

import re
from pathlib import Path

import streamlit as st

from engine.errors import BundleError
from engine.export.exporter import (
    BundleInfo,
    ExportReport,
    FormatResult,
    describe_bundle,
    read_report,
    safe_name,
)
from engine.export.formats import (
    FORMAT_CHECKS,
    FORMAT_FILES,
    FORMAT_TITLES,
    FORMAT_USES,
    FORMATS,
    TOLERANCE,
    blocking_reasons,
)
from engine.export.zip_import import MIB, ZipLimits, import_bundle_zip
from engine.runs.bundle import WEIGHTS_FILE
from engine.runs.bundle_finder import find_bundles, imports_dir, note_importer, runs_dir
from engine.runs.page_jobs import JobFailed, JobLimits, run_page_job
from ui.build.editor_state import editor
from ui.session_keep import without_server_paths
from ui.train.page_state import owner

PICK_KEY = "export_pick"  # the selectbox: a bundle directory
UPLOAD_KEY = "export_upload"
UPLOAD_ERROR_KEY = "export_upload_error"
INFO_KEY = "export_bundle_info"  # (bundle dir, weights mtime, BundleInfo): described once per bundle, no tensor
REPORTS_KEY = "export_reports"  # bundle dir -> ExportReport of this session
OPENED_KEY = "export_opened"  # bundle dir last opened on the Build page
EXPORT_ERRORS_KEY = "export_errors"  # bundle dir -> why this session's last export stopped (None: it did not)
EXPORT_LIMITS = JobLimits.from_env(cpu_seconds=600, memory_mb=4096, wall_seconds=600)  # the export runs 3 checks
MIME = {"onnx": "application/octet-stream", "torchscript": "application/octet-stream", "python": "application/zip"}
MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:])")


# --- choosing a bundle -------------------------------------------------------------------------------


def _on_upload() -> None:
    uploaded = st.session_state.get(UPLOAD_KEY)
    st.session_state.pop(UPLOAD_ERROR_KEY, None)
    if uploaded is None:
        return
    try:
        bundle_dir, _ = import_bundle_zip(uploaded.name, uploaded.getvalue(), imports_dir(), check=describe_bundle)
    except BundleError as err:
        st.session_state[UPLOAD_ERROR_KEY] = f"Not imported: {err}"
        return
    note_importer(bundle_dir, owner())  # listed for this browser session only
    st.session_state[PICK_KEY] = str(bundle_dir)


def choose_bundle() -> Path | None:
    """The bundle directory the person picked (a run, or an uploaded zip), or None."""
    root = runs_dir()
    entries = find_bundles(root, owner=owner())  # this session's runs and uploads, and the command line's
    labels = {str(e.path): e.label(root) for e in entries}
    pick_column, upload_column = st.columns([3, 2])
    with upload_column:
        st.file_uploader(
            "…or upload a bundle zip",
            type=["zip"],
            key=UPLOAD_KEY,
            on_change=_on_upload,
            max_upload_size=ZipLimits().max_zip_bytes // MIB,
            help="A zip of a run bundle (spec.json, train.json, weights.safetensors, meta.json), such as the "
            "zip this page makes. It is checked before anything is unpacked; nothing is loaded with pickle.",
        )
    if st.session_state.get(UPLOAD_ERROR_KEY):
        st.error(without_server_paths(st.session_state[UPLOAD_ERROR_KEY]), icon=":material/block:")
    with pick_column:
        if not entries:
            st.info(
                f"No trained runs in `{without_server_paths(str(root))}` yet. Train one on the Train page, or run "
                "`python -m engine train --template lenet --out runs/lenet`, or upload a bundle zip."
            )
            return None
        if st.session_state.get(PICK_KEY) not in labels:
            st.session_state[PICK_KEY] = str(entries[0].path)
        picked = st.selectbox("Pick a trained run", list(labels), format_func=labels.__getitem__, key=PICK_KEY)
    return Path(picked)


def loaded(bundle_dir: Path) -> BundleInfo | None:
    """The bundle as the page shows it (described once per bundle), or None after showing why it cannot be
    exported. No tensor is read and no network allocated in the server (describe_bundle checks the weights by
    their header); the export itself loads them in a page job."""
    try:
        stamp = (bundle_dir / WEIGHTS_FILE).stat().st_mtime
        cached = st.session_state.get(INFO_KEY)
        if cached is None or cached[:2] != (str(bundle_dir), stamp):
            st.session_state[INFO_KEY] = (str(bundle_dir), stamp, describe_bundle(bundle_dir))
    except (BundleError, OSError) as err:
        st.error(without_server_paths(f"This bundle cannot be exported: {err}"), icon=":material/block:")
        return None
    return st.session_state[INFO_KEY][2]


# --- the bundle --------------------------------------------------------------------------------------


def _fmt_shape(shape) -> str:
    return "[" + ", ".join(str(d) for d in shape) + "]"


def trained_epochs(metrics: dict) -> str:
    """The run's counter as the Train page shows it (engine.train.counters): whole epochs, by phase for a DBN."""
    counter, epochs = metrics.get("counter"), metrics.get("epochs")
    if isinstance(counter, str) and not counter.endswith("epochs"):
        return counter
    if isinstance(epochs, int):
        return f"{epochs:,} epoch{'' if epochs == 1 else 's'}"
    return f"{epochs or '?'} epochs"


def draw_bundle(trained: BundleInfo) -> None:
    a, meta = trained.analysis, trained.bundle.meta
    metrics = meta.get("metrics") or {}
    accuracy, val_loss = metrics.get("val_accuracy"), metrics.get("val_loss")
    st.subheader(_plain(trained.bundle.spec.name))
    columns = st.columns(4)
    columns[0].metric("Dataset", str(meta.get("dataset", "?")))
    columns[1].metric("Parameters", f"{a.total_params:,}")
    columns[2].metric("Validation accuracy", f"{100 * accuracy:.1f}%" if isinstance(accuracy, float) else "–")
    columns[3].metric("Validation loss", f"{val_loss:.4f}" if isinstance(val_loss, float) else "–")
    where = without_server_paths(str(trained.bundle.path))
    st.caption(
        f"Input {_fmt_shape(a.shapes[a.input_id])} {meta.get('input_dtype', 'float32')} → output "
        f"{_fmt_shape(a.shapes[a.output_id])} · trained {trained_epochs(metrics)} "
        f"({metrics.get('steps', '?')} steps) · {meta.get('created', '')} · `{where}`"
    )


def _on_open(trained: BundleInfo) -> None:
    spec, name = trained.bundle.spec, trained.bundle.spec.name
    editor().load_bundle(spec, str(trained.bundle.path), f"“{name}” with its trained weights")
    st.session_state[OPENED_KEY] = str(trained.bundle.path)


def _plain(text: str) -> str:
    """`text` (a class name from a CSV: anything) shown as itself in markdown, on one line."""
    return MARKDOWN_SPECIAL.sub(r"\\\1", " ".join(str(text).split()))


def draw_carried(trained: BundleInfo) -> None:
    """What every export carries besides the network: the input normalisation and the class names."""
    norm = trained.norm
    if norm is not None:
        inputs = (
            f"**Inputs:** raw, as in the data: every export applies the training normalisation ({norm.kind}: "
            "(x − mean) / std) itself."
        )
    elif trained.bundle.meta.get("input_dtype") == "int64":
        inputs = "**Inputs:** token ids, as in the data (never normalised)."
    else:
        inputs = "**Inputs:** as in the data: the network was trained on them without normalisation."
    st.markdown(inputs)
    if trained.class_names:
        names = " · ".join(_plain(name) for name in trained.class_names)
        st.markdown(f"**Classes** (in every export, output unit 0 first): {names}")


def draw_open_in_builder(trained: BundleInfo) -> None:
    """Import: put the bundle's graph (and, by reference, its weights) on the Build page."""
    with st.container(horizontal=True, vertical_alignment="center"):
        st.button(
            "Open on the Build page",
            icon=":material/draw:",
            on_click=_on_open,
            args=(trained,),
            help="Puts this graph on the canvas with its trained weights, to continue training or export again",
        )
        if st.session_state.get(OPENED_KEY) == str(trained.bundle.path):
            st.success(f"“{_plain(trained.bundle.spec.name)}” is on the Build page with its trained weights.")
            st.page_link("app_pages/build.py", label="Go to Build", icon=":material/arrow_forward:")


# --- exports -----------------------------------------------------------------------------------------


def _report(trained: BundleInfo) -> ExportReport | None:
    key = str(trained.bundle.path)
    reports = st.session_state.setdefault(REPORTS_KEY, {})
    if key not in reports:
        reports[key] = read_report(trained.bundle.path, safe_name(trained.bundle.spec.name))
    return reports[key]


def export_in_job(bundle_dir: Path) -> tuple[ExportReport | None, str | None]:
    """Export and check every format of the bundle in a page job (engine/runs/page_jobs.py: a child process with
    limits, since the check runs the exported files); the report is read back from what it wrote beside the
    bundle. (report, None) or (None, one line saying what stopped)."""
    result, error = run_page_job("export_bundle", {"bundle": str(bundle_dir)}, EXPORT_LIMITS)
    if error is not None:
        text = str(error)
        return None, text[:1].upper() + text[1:] if isinstance(error, JobFailed) else f"The export stopped: {text}"
    report = read_report(bundle_dir, result["name"])
    if report is None:
        return None, "The export ended, but its report (export.json) cannot be read back; export again"
    return report, None


def _on_export(trained: BundleInfo) -> None:
    key = str(trained.bundle.path)
    with st.spinner("Exporting, then running every file with its consumer's runtime…"):
        report, error = export_in_job(trained.bundle.path)
    st.session_state.setdefault(EXPORT_ERRORS_KEY, {})[key] = error
    if report is not None:
        st.session_state.setdefault(REPORTS_KEY, {})[key] = report


def _download(fmt: str, result: FormatResult, report: ExportReport, column) -> None:
    """The checked file; for model.py the small zip with its weights and README (model.py needs them)."""
    path = report.pytorch_zip if fmt == "python" else result.path
    if path is None or not path.is_file():
        return
    column.download_button(
        "Download (zip)" if fmt == "python" else "Download",
        data=path.read_bytes,
        file_name=path.name,
        mime=MIME[fmt],
        key=f"download_{fmt}",
        icon=":material/download:",
        on_click="ignore",
        help=f"{path.name}: model.py, weights.safetensors and README.txt (its first two lines run it)"
        if fmt == "python"
        else None,
    )


def _format_result(fmt: str, blockers: list[str], result: FormatResult | None, report: ExportReport | None) -> None:
    title_column, result_column, download_column = st.columns([2, 4, 1.4], vertical_alignment="center")
    title_column.markdown(f"**{FORMAT_TITLES[fmt]}** · `{FORMAT_FILES[fmt]}`")
    title_column.caption(FORMAT_USES[fmt])
    if blockers:
        result_column.warning("\n\n".join(blockers), icon=":material/block:")
    elif result is None:
        result_column.caption("Not exported yet.")
    elif not result.ok:
        result_column.error(result.problem, icon=":material/error:")
    else:
        inputs = " on raw inputs" if report.raw_inputs else ""
        result_column.success(
            f"max abs diff **{result.max_abs_diff:.2g}** (limit {TOLERANCE:g}){inputs} · {FORMAT_CHECKS[fmt]}",
            icon=":material/verified:",
        )
        _download(fmt, result, report, download_column)


def draw_exports(trained: BundleInfo) -> None:
    st.subheader("Exports", divider="gray")
    report = _report(trained)
    st.button(
        "Export again" if report else "Export and check",
        type="primary",
        icon=":material/rocket_launch:",
        on_click=_on_export,
        args=(trained,),
        key="export_run",
    )
    error = st.session_state.get(EXPORT_ERRORS_KEY, {}).get(str(trained.bundle.path))
    if error:
        st.error(without_server_paths(error), icon=":material/error:")
    for fmt in FORMATS:
        with st.container(border=True):
            blockers = blocking_reasons(trained.analysis, fmt)
            _format_result(fmt, blockers, report.results.get(fmt) if report else None, report)
    if report and report.zip_path and report.zip_path.is_file():
        with st.container(horizontal=True, vertical_alignment="center"):
            st.download_button(
                "Download everything (zip)",
                data=report.zip_path.read_bytes,
                file_name=report.zip_path.name,
                mime="application/zip",
                key="download_zip",
                icon=":material/folder_zip:",
                on_click="ignore",
            )
            st.caption("The bundle, every checked export and export.json (the differences), in one folder.")
