import tomllib


def test_every_subpackage_is_in_the_distribution(repo_root):
    config = tomllib.loads((repo_root / "pyproject.toml").read_text())["tool"]["setuptools"]
    on_disk = {".".join(p.parent.relative_to(repo_root).parts) for p in (repo_root / "evoact").rglob("__init__.py")}
    assert on_disk <= set(config["packages"]), "a non-editable install would miss these packages"


def test_the_public_api_is_listed_for_tab_completion_and_each_name_resolves():
    import evoact

    public = [name for name in evoact.__all__ if name != "__version__"]
    assert set(public) <= set(dir(evoact))
    assert all(callable(getattr(evoact, name)) for name in public)
