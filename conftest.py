# Thin on purpose: the harness plugin (harness/plugin.py) is registered through the pytest11 entry
# point of the installed package.  When running from a source tree that is not installed, load it here.
import importlib.metadata as _md

if not any(ep.value.startswith("harness.plugin") for ep in _md.entry_points(group="pytest11")):
    pytest_plugins = ["harness.plugin"]
