"""The adapters Quorum knows. Adding a platform: write a module with an
Adapter subclass decorated with @register and list the module here."""

from importlib import import_module

PLATFORM_MODULES = (
    "integrations.adapters.mastodon",
)

_adapters = {}


def register(cls):
    adapter = cls()
    if not adapter.platform or not adapter.platform.replace("_", "").isalnum() or adapter.platform != adapter.platform.lower():
        raise ValueError(f"{cls.__name__}.platform must be a lower-case slug, got {adapter.platform!r}")
    existing = _adapters.get(adapter.platform)
    if existing is not None and type(existing).__qualname__ != cls.__qualname__:
        raise ValueError(f"two adapters for platform {adapter.platform!r}")
    _adapters[adapter.platform] = adapter
    return cls


def load():
    for module in PLATFORM_MODULES:
        import_module(module)


def get(platform):
    """The adapter for `platform`, or None."""
    load()
    return _adapters.get(platform)


def all_adapters():
    load()
    return [_adapters[p] for p in sorted(_adapters)]


def platform_choices():
    return [(a.platform, a.title or a.platform) for a in all_adapters()]
