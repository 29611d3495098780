import tomllib


def test_every_subpackage_is_in_the_distribution(repo_root):
    config = tomllib.loads((repo_root / "pyproject.toml").read_text())["tool"]["setuptools"]
    on_disk = {".".join(p.parent.relative_to(repo_root).parts) for p in (repo_root / "evoact").rglob("__init__.py")}
    assert on_disk <= set(config["packages"]), "a non-editable install would miss these packages"
