import re

from builder.analysis.validate import ID_PATTERN
from builder.spec.reserved import is_reserved
from engine.compile.fx_module import reserved_names


def test_builder_reserved_ids_cover_every_torch_module_attribute():
    clashing = {n for n in reserved_names() if re.fullmatch(ID_PATTERN, n)}
    assert all(is_reserved(n) for n in clashing), sorted(n for n in clashing if not is_reserved(n))
    assert not is_reserved("fc1") and is_reserved("__init__") and is_reserved("eval")
