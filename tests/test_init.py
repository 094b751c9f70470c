from __future__ import annotations

import kaffe


def test_all_is_sorted_and_complete() -> None:
    assert kaffe.__all__ == sorted(kaffe.__all__)
    public = {name for name in dir(kaffe) if not name.startswith("_") and name[0].isupper()}
    assert public <= set(kaffe.__all__)


def test_public_objects_report_the_package_as_their_module() -> None:
    for name in kaffe.__all__:
        assert getattr(kaffe, name).__module__ == "kaffe", name


def test_private_modules_declare_all() -> None:
    import importlib

    for module in (
        "_async_producer",
        "_config",
        "_core",
        "_engine",
        "_errors",
        "_features",
        "_options",
        "_security",
        "_serialization",
        "_heroku",
        "_log",
        "_observers",
        "_producer",
        "_statistics",
        "_types",
    ):
        assert importlib.import_module(f"kaffe.{module}").__all__


def test_package_is_typed() -> None:
    from importlib.resources import files

    assert files("kaffe").joinpath("py.typed").is_file()
