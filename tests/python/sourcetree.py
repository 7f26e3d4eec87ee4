"""perftramp's report formats loaded from the source tree, for tests that
render in-process: the formats package needs no C extension."""
import importlib
import importlib.util
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def load_formats(module="html"):
    """(perftramp.formats, perftramp.formats.MODULE) from the source tree,
    under a private name, without importing perftramp itself (which loads
    the C extension)."""
    name = "_flamegraph_test_formats"
    if name not in sys.modules:
        directory = ROOT / "src" / "perftramp" / "formats"
        spec = importlib.util.spec_from_file_location(
            name, directory / "__init__.py", submodule_search_locations=[str(directory)])
        package = importlib.util.module_from_spec(spec)
        sys.modules[name] = package
        spec.loader.exec_module(package)
    return sys.modules[name], importlib.import_module("%s.%s" % (name, module))
