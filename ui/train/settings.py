"""The Train page's settings (sidebar): dataset (built-in or an uploaded CSV with a preview and its target
column), task, the learning rule (auto says which it picks and why, engine.train.choose) and the settings its
card lists (engine.train.rule_card: optimizer, learning rate, batch size, epochs per phase...), seed, device,
and under More the validation share, mixed precision (rules that read it) and deterministic mode. Glue only:
the values become a TrainConfig, whose problems (and the limits below) are shown naming the field."""

from __future__ import annotations

import csv
import hashlib
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

from builder.library.datasets import CSV_PREFIX, DATASETS
from builder.library.templates import TEMPLATES
from builder.spec.limits import limits
from builder.spec.spec import GraphSpec
from engine.runs.session_state import list_uploads, remove_upload, save_upload
from engine.train.config import AMP_MODES, RULE_SETTINGS, TASKS, TrainConfig
from engine.train.rule_card import RuleCard
from ui.session_keep import owner, runs_root
from ui.train.page_state import manager
from ui.train.rule_settings import draw_rule

CSV_CHOICE = "csv"
PREVIEW_ROWS = 5
# An upload's preview is parsed in the server: kept below what a run may read (NETCANVAS_MAX_CSV_MB).
MAX_CSV_MB = min(50, limits().max_csv_mb)
PREVIEW_CACHE_ENTRIES = 16  # uploads whose preview is kept (all sessions together)
DIGEST_MIN_CHARS = 12
KEY = "ts_"  # widget keys: ts_dataset, ts_lr, ...
SAVED_KEY = "ts_saved"
RULE_FIELDS = RULE_SETTINGS  # the learning rules' settings (engine.train.config)
FIELDS = (
    "dataset",
    "task",
    "loss",
    "optimizer",
    "lr",
    "batch_size",
    "epochs",
    "weight_decay",
    "seed",
    "device",
    "val_split",
    "amp",
    "deterministic",
    "threads",
    "trainer",
    *RULE_FIELDS,
)
CSV_FIELDS = ("upload", "target")  # the chosen upload (its saved path) and its target column, kept like FIELDS
NONE_IS_AUTO = ("task", "loss")  # a selectbox with an "auto" option; other None values stay None (empty inputs)


@dataclass(frozen=True)
class Settings:
    config: TrainConfig | None  # None when something is wrong
    problems: tuple[str, ...]  # one line each, naming the field
    file_names: tuple[tuple[str, str], ...] = ()  # (saved path, uploaded name): messages show the name
    card: RuleCard | None = None  # the rule that will train (engine.train.rule_card)

    def readable(self, message: str) -> str:
        for path, name in self.file_names:
            message = message.replace(path, name)
        return message


@dataclass(frozen=True)
class Upload:
    path: str = ""
    name: str = ""
    target: str | None = None
    problem: str | None = None


@dataclass(frozen=True)
class Limit:
    label: str
    low: float
    high: float


LIMITS = {  # beyond TrainConfig.problems: what a person can sensibly ask for in the app
    "lr": Limit("Learning rate", 1e-7, 10.0),
    "batch_size": Limit("Batch size", 1, 65536),
    "epochs": Limit("Epochs", 1, 100_000),
    "weight_decay": Limit("Weight decay", 0.0, 1.0),
    "val_split": Limit("Validation share", 0.0, 0.9),
    "seed": Limit("Seed", 0, 2**31 - 1),
}


def defaults_for(spec: GraphSpec) -> dict:
    """A template's own training settings when the graph is one; else a dataset that fits its Input."""
    base = TrainConfig().to_dict()
    template = TEMPLATES.get(spec.name)
    if template is not None:
        return {**base, **template.train}
    return {**base, "dataset": _dataset_for_input(spec)}


def _dataset_for_input(spec: GraphSpec) -> str:
    node = next((n for n in spec.nodes if n.op == "Input"), None)
    shape = tuple(node.params.get("shape", ())) if node is not None else ()
    exact = [d.name for d in DATASETS.values() if d.feature_shape == shape]
    return exact[0] if exact else "xor"


def _restore(spec: GraphSpec) -> None:
    """Give every settings widget its value before it is drawn: the template's (or the fitting dataset's)
    defaults when another network comes from the Build page, else what this session chose last. Streamlit
    forgets a widget's value when a run does not draw it (another page was open), so the values are also
    kept under SAVED_KEY."""
    saved = st.session_state.setdefault(SAVED_KEY, {})
    fresh = st.session_state.get(KEY + "for") != spec.name
    if fresh:
        values = defaults_for(spec)
        saved.update({name: _widget_value(values, name) for name in FIELDS})
        st.session_state[KEY + "for"] = spec.name
    missing = [name for name in FIELDS if name not in saved]  # a session saved before a setting existed
    if missing:
        values = defaults_for(spec)
        saved.update({name: _widget_value(values, name) for name in missing})
    for name in FIELDS:
        if fresh or KEY + name not in st.session_state:
            st.session_state[KEY + name] = saved[name]


def _widget_value(values: dict, name: str):
    """A config default as its widget holds it: None is "auto" in a selectbox that offers auto."""
    return "auto" if values[name] is None and name in NONE_IS_AUTO else values[name]


def _save() -> None:
    """Keep the values of the widgets this run drew (a rule's settings are drawn only for that rule)."""
    drawn = {name: st.session_state[KEY + name] for name in FIELDS + CSV_FIELDS if KEY + name in st.session_state}
    st.session_state[SAVED_KEY].update(drawn)


def _describe(name: str) -> str:
    if name == CSV_CHOICE:
        return "CSV file (upload)"
    info = DATASETS[name]
    return f"{name} · {list(info.feature_shape)}"  # short: a select's closed field is one line; the description
    # goes under it (dataset_caption), whole


def dataset_caption(name: str) -> str:
    """What a built-in dataset is, in full, under the Dataset select (empty for the CSV choice)."""
    return DATASETS[name].description if name in DATASETS else ""


def draw_settings(spec: GraphSpec) -> Settings:
    """The settings widgets: the data, the learning rule and the settings its card lists (engine.train.rule_card),
    seed and device; a setting the rule ignores is not drawn (its value is kept for when it is drawn again)."""
    _restore(spec)
    dataset = st.selectbox("Dataset", [*DATASETS, CSV_CHOICE], format_func=_describe, key=KEY + "dataset")
    if dataset_caption(dataset):
        st.caption(dataset_caption(dataset))
    raw, problems, names = {"dataset": dataset}, [], ()
    if dataset == CSV_CHOICE:
        upload = draw_csv_upload()
        problems += [upload.problem] if upload.problem else []
        raw.update(dataset=CSV_PREFIX + upload.path, target=upload.target)
        names = ((CSV_PREFIX + upload.path, upload.name), (upload.path, upload.name))
    inferred = DATASETS[dataset].task if dataset in DATASETS else "from the target"
    task = st.selectbox(
        "Task", ["auto", *TASKS], key=KEY + "task", format_func=lambda t: f"auto ({inferred})" if t == "auto" else t
    )
    raw["task"] = None if task == "auto" else task
    rule_values, card = draw_rule(spec, dataset, raw["task"])  # the settings the rule reads, from its card
    raw.update(rule_values)
    left, right = st.columns(2)
    raw["seed"] = left.number_input("Seed", step=1, key=KEY + "seed")
    devices = ["auto", *manager().devices()]  # this machine's, or under Ray the cluster's: cuda only if it has a GPU
    raw["device"] = right.selectbox(
        "Device", devices, key=KEY + "device", format_func=lambda d: f"auto ({devices[1]})" if d == "auto" else d
    )
    with st.expander("More"):
        raw["val_split"] = st.number_input("Validation share", format="%g", step=0.05, key=KEY + "val_split")
        if card.reads("amp"):
            raw["amp"] = st.selectbox(
                "Mixed precision",
                AMP_MODES,
                key=KEY + "amp",
                help="bf16 or fp16 runs the forward pass in 16 bits (faster on a GPU; fp16 scales the gradients "
                "and skips a step that overflows). The weights stay 32-bit. Not for recurrent layers on the CPU.",
            )
        raw["deterministic"] = st.checkbox(
            "Deterministic",
            key=KEY + "deterministic",
            help="Only deterministic algorithms: the same seed repeats the run exactly, on a GPU too (slower there).",
        )
        raw["threads"] = st.number_input(
            "CPU threads",
            step=1,
            placeholder="auto",
            key=KEY + "threads",
            help="Torch's threads for this run on the CPU. Empty (auto): one thread for a small network; for a large "
            "one, one per 20 M operations a step, up to the cores free when it starts. The run's start message says "
            "which and why.",
        )
    _save()
    if problems:
        return Settings(None, tuple(problems), names, card)
    config, found = settings_from(raw, card)
    return Settings(config, tuple(found), names, card)


def settings_from(raw: dict, card: RuleCard | None = None) -> tuple[TrainConfig | None, list[str]]:
    """The TrainConfig for the widget values, or the problems (the app's limits first, then the config's);
    a limit names the setting as the rule's card labels it ("Fine-tuning epochs")."""
    problems = []
    for name, limit in LIMITS.items():
        value = raw.get(name)
        setting = card.setting(name) if card is not None else None
        label = setting.label if setting is not None else limit.label
        if isinstance(value, int | float) and not limit.low <= value <= limit.high:
            problems.append(f"{label} must be between {limit.low:g} and {limit.high:g}; got {value:g}")
    if problems:
        return None, problems
    return TrainConfig.from_dict(raw)


# --- CSV upload --------------------------------------------------------------------------------------


def _take_upload() -> None:
    """A file just given to the uploader: kept under this session's key with its original name (the same
    content again is the same file), and chosen in the list of uploads."""
    uploaded = st.session_state.get(KEY + "csv")
    if uploaded is None:
        return
    saved = save_upload(runs_root(), owner(), uploaded.name, uploaded.getvalue())
    st.session_state[KEY + "upload"] = str(saved.path)


def _choose_upload() -> Path | None:
    """The selectbox of this session's uploads (the newest first, by name), or None when there are none."""
    paths = [str(u.path) for u in list_uploads(runs_root(), owner())]
    if not paths:
        return None
    if st.session_state.get(KEY + "upload") not in paths:
        kept = st.session_state[SAVED_KEY].get("upload")
        st.session_state[KEY + "upload"] = kept if kept in paths else paths[0]
    choice = st.selectbox("Uploaded file", paths, format_func=lambda p: Path(p).name, key=KEY + "upload")
    st.button(
        "Remove this file", key=KEY + "remove_upload", on_click=_remove_upload, args=(choice,),
        help="Deletes the kept copy; runs trained on it keep their results (continuing one needs the file again)",
    )  # fmt: skip
    return Path(choice)


def _remove_upload(path: str) -> None:
    if remove_upload(runs_root(), owner(), path):
        st.session_state.pop(KEY + "upload", None)
        st.toast(f"Removed {Path(path).name} from this session's files.")


def upload_digest(path: Path) -> str:
    """The content digest of a kept upload: its folder's name (engine.runs.session_state.save_upload keeps each
    upload under the sha256 of its bytes), else the sha256 of the file."""
    folder = path.parent.name
    if len(folder) >= DIGEST_MIN_CHARS and all(c in "0123456789abcdef" for c in folder):
        return folder
    return hashlib.sha256(path.read_bytes()).hexdigest()


@st.cache_data(max_entries=PREVIEW_CACHE_ENTRIES, show_spinner=False)
def preview_upload(digest: str, path: str) -> tuple[list[str], list[list[str]]] | str:
    """_preview of the file, read and parsed once per upload (its digest), not on every rerun of the page."""
    return _preview(Path(path).read_bytes())


def _preview(data: bytes) -> tuple[list[str], list[list[str]]] | str:
    """(header, first rows) or the reason the file cannot be read as CSV."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        return f"the file is not UTF-8 text ({err.reason} at byte {err.start}); save it as UTF-8 CSV"
    try:
        rows = [row for row in csv.reader(text.splitlines()) if any(cell.strip() for cell in row)]
    except csv.Error as err:
        return f"the file is not valid CSV ({err})"
    if len(rows) < 2:
        return "the file needs a header row and at least one data row"
    return rows[0], rows[1 : 1 + PREVIEW_ROWS]


def draw_csv_upload() -> Upload:
    """This session's chosen CSV file (kept under the runs directory), its target column, or what is wrong."""
    st.file_uploader(
        "CSV file (header row; numeric features)",
        type=["csv"],
        key=KEY + "csv",
        max_upload_size=MAX_CSV_MB,
        on_change=_take_upload,
    )
    path = _choose_upload()
    if path is None:
        return Upload(problem="Dataset: upload a CSV file (a header row, numeric feature columns and a target column)")
    try:
        preview = preview_upload(upload_digest(path), str(path))
    except OSError as err:
        return Upload(
            name=path.name, problem=f"CSV file '{path.name}' cannot be read ({err.strerror}); upload it again"
        )
    if isinstance(preview, str):
        return Upload(name=path.name, problem=f"CSV file '{path.name}': {preview}")
    header, rows = preview
    st.dataframe([dict(zip(header, row)) for row in rows], hide_index=True, width="stretch")
    if st.session_state.get(KEY + "target") not in header:
        kept = st.session_state[SAVED_KEY].get("target")
        st.session_state[KEY + "target"] = kept if kept in header else header[-1]
    target = st.selectbox("Target column", header, key=KEY + "target")
    return Upload(str(path), path.name, target)
