import re
from pathlib import Path

import pytest

import evoact
from evoact.genome import Genome, load_search_space
from evoact.search_space import SearchSpaceError, builtin_spaces, parse_search_space


def test_shipped_spaces_load():
    assert {"default", "ramachandran2017"} <= set(builtin_spaces())
    for name in builtin_spaces():
        space = load_search_space(name)
        assert space.name == name
        Genome(space)


def test_ramachandran_space_is_the_full_paper_space():
    space = load_search_space("ramachandran2017")
    assert len(space.unary) == 24 and len(space.binary) == 10
    assert space.structure == "core_units"
    assert space.learnable == {"beta": 1.0}


def test_load_by_path(repo_root):
    space = load_search_space(repo_root / "search_spaces" / "default.toml")
    assert space.name == "default" and space.source.endswith("default.toml")


GOOD = """
name = "t"
[primitives]
unary = ["tanh"]
binary = ["add"]
"""


@pytest.mark.parametrize(
    "text, entry, problem",
    [
        ('name = "t"\n[primitives]\nunary = ["tanhh"]', "primitives.unary[0]", "unknown unary primitive 'tanhh'"),
        ('name = "t"\n[primitives]\nbinary = ["tanh"]', "primitives.binary[0]", "'tanh' is a unary primitive: list"),
        ('name = "t"\n[primitives]\nunary = ["add"]', "primitives.unary[0]", "'add' is a binary primitive: list it"),
        ('name = "t"\n[primitives]\nbinary = ["tanhh"]', "primitives.binary[0]", "unknown binary primitive 'tanhh'"),
        ('name = "t"\n[primitives]\nunary = ["scale"]', "primitives: scale", "needs the learnable constant 'beta'"),
        (
            'name = "t"\n[primitives]\nunary = ["snake"]\n[learnable]\nalpha = 0.0',
            "learnable (alpha = 0)",
            "snake is undefined there (every tree using it would be refused)",
        ),
        ('name = "t"\ncolour = 1\n[primitives]\nunary = ["tanh"]', "colour", "unknown key"),
        ('[primitives]\nunary = ["tanh"]', "name", "missing"),
        ('name = ""\n[primitives]\nunary = ["tanh"]', "name", "letters, digits"),
        (
            'name = "../../etc"\n[primitives]\nunary = ["tanh"]',
            "name",
            "'../../etc': letters, digits, '_', '.' and '-'",
        ),
        ('name = "t"\n[primitives]\nunary = []', "primitives", "no unary or binary"),
        (GOOD + '[limits]\nmax_depth = "5"', "limits.max_depth", "must be an integer"),
        (
            GOOD + "[limits]\nmax_depth = 2\ninit_max_depth = 3",
            "limits",
            "init_min_depth <= init_max_depth <= max_depth",
        ),
        (GOOD + "[terminals]\nconstants = [1e300]", "terminals.constants[0]", "finite number"),
        (GOOD + '[learnable]\nbeta = "one"', "learnable.beta", "at most 1e6, got 'one'"),  # text, quoted
        (GOOD + '[terminals]\nlearnable = ["alpha"]', "terminals.learnable[0]", "not declared under [learnable]"),
        (
            GOOD + '[terminals]\nlearnable = ["gamma"]\n[learnable]\ngama = 1.5',
            "terminals.learnable[0]",
            "'gamma' is not declared under [learnable] (it declares 'gama', which nothing uses)",
        ),
        ('name = "t"\nstructure = "dag"\n[primitives]\nunary = ["tanh"]', "structure", "not one of"),
        ('name = "t"\n[primitives\nunary = ["tanh"]', "", "not valid TOML"),
        ("a = " + "[" * 5000 + "]" * 5000, "", "nests too deeply"),
        ("seeds = [" + ", ".join(['"x"'] * 257) + "]" + GOOD, "seeds", "lists 257 entries; the limit is 256"),
        (
            GOOD + "[terminals]\nconstants = [" + ", ".join(str(i) for i in range(65)) + "]",
            "terminals.constants",
            "the limit is 64",
        ),
        (GOOD + "[learnable]\n" + "".join(f"c{i} = 1.0\n" for i in range(33)), "learnable", "the limit is 32"),
        (GOOD + "[learnable]\ntraining = 1.0", "learnable.training", "reserved"),
        # the new user's: a declared constant nothing uses (a typo unseen), a reserved name said to be undeclared
        (GOOD + "[learnable]\ngamma = 2.0", "learnable.gamma", "declared, but no primitive of the space and no entry"),
        (
            GOOD + '[terminals]\nlearnable = ["beta", "tanh"]\n[learnable]\nbeta = 1.0',
            "terminals.learnable[1]",
            "'tanh' cannot name a constant",
        ),
        (GOOD + "[learnable]\ne = 1.0", "learnable.e", "reserved"),
        (
            GOOD + "[limits]\nmax_nodes = 2\ninit_min_depth = 3\ninit_max_depth = 3",
            "limits",
            "no tree can satisfy them",
        ),
        # the adversary's: a constant named as a primitive (DEAP's assert, then trees that did not parse back), a
        # constant listed twice, a constant whose quotients no formula holds, core units that no limits admit
        (
            'name = "t"\n[primitives]\nunary = ["gauss"]\n[terminals]\nlearnable = ["gauss"]\n[learnable]\ngauss = 1.0',
            "learnable.gauss",
            "names a primitive of the space",
        ),
        (GOOD + '[terminals]\nlearnable = ["beta", "beta"]\n[learnable]\nbeta = 1.0', "terminals.learnable", "twice"),
        (GOOD + "[terminals]\nconstants = [1e-300]", "terminals.constants[0]", "magnitude from 1e-6 to 1e6"),
        (
            'name = "t"\nstructure = "core_units"\n[primitives]\nunary = ["tanh"]\nbinary = ["add"]\n'
            "[limits]\nmax_depth = 1\nmax_nodes = 3\ninit_min_depth = 1\ninit_max_depth = 1",
            "limits",
            "no tree can satisfy them: a core unit b(u(.), u(.)) is 2 deep with 5 nodes",
        ),
    ],
)
def test_malformed_files_name_file_entry_and_problem(text, entry, problem):
    with pytest.raises(SearchSpaceError) as err:
        parse_search_space(text, "spaces/bad.toml")
    message = str(err.value)
    assert message.startswith("spaces/bad.toml: ")
    assert entry in message and problem in message


def test_bad_seed_is_reported_with_its_entry():
    space = parse_search_space('seeds = ["add(x, sigmoid(x))"]' + GOOD, "s.toml")
    with pytest.raises(SearchSpaceError, match=r"s.toml: seeds\[0\]: 'sigmoid' is not a primitive"):
        Genome(space)


def test_unknown_name_and_missing_file(tmp_path: Path):
    with pytest.raises(SearchSpaceError, match="unknown search space"):
        load_search_space("nope")
    with pytest.raises(SearchSpaceError, match="no such search-space file"):
        load_search_space(tmp_path / "missing.toml")
    (tmp_path / "mine.toml").write_text("")  # named without its .toml: the file beside it is named in the error
    with pytest.raises(SearchSpaceError, match=f"unknown search space; .*; {re.escape(str(tmp_path))}/mine.toml is a"):
        load_search_space(str(tmp_path / "mine"))
    with pytest.raises(SearchSpaceError, match="^'': no search space named; shipped ones are"):
        load_search_space("")  # it said ".: no such search-space file"


def test_a_file_an_editor_saved_with_a_byte_order_mark_loads(tmp_path: Path):
    path = tmp_path / "bom.toml"
    path.write_text("\ufeff" + GOOD, encoding="utf-8")  # TOML itself has no BOM: "Invalid statement" at 1, 1
    assert load_search_space(path).name == "t"


def test_binary_and_oversized_files_are_refused(tmp_path: Path):
    binary = tmp_path / "space.toml"
    binary.write_bytes(b'name = "t"\n\xff\xfe')
    with pytest.raises(SearchSpaceError, match="space.toml: not UTF-8 text"):
        load_search_space(binary)
    big = tmp_path / "big.toml"
    big.write_text("# " + "x" * 1_100_000)
    with pytest.raises(SearchSpaceError, match="big.toml: larger than"):
        load_search_space(big)


@pytest.mark.parametrize(
    "seed, problem",
    [
        ("tanh(" * 60 + "x" + ")" * 60, "nests deeper than"),
        ("mul(x, sigmoid(x)); import os", "unexpected character ';'"),
        ("tanh(tanh(tanh(tanh(tanh(tanh(x))))))", r"is 6 deep with 7 nodes, over the space's limits \(max_depth"),
        ("x*sigmoid(x)", "unexpected character '\\*' at position 1; a seed is a tree .*formula goes to --guess"),
        ("tanh(tanh(x)", "expected '\\)' to close 'tanh', which takes 1"),
    ],
)
def test_hostile_or_oversized_seeds_are_refused(seed, problem):
    space = parse_search_space(f"seeds = [{seed!r}]".replace("'", '"') + GOOD, "s.toml")
    with pytest.raises(SearchSpaceError, match=rf"s.toml: seeds\[0\]: .*{problem}"):
        Genome(space)


def test_evoact_load_search_space_checks_a_files_seeds_as_a_search_does(tmp_path: Path):
    """A notebook's ``evoact.load_search_space`` is told a bad seed at once, not by the search that uses the space."""
    path = tmp_path / "mine.toml"
    path.write_text('seeds = ["add(x, tanh(x))", "add(x, gelu(x))"]' + GOOD)
    with pytest.raises(SearchSpaceError, match=r"mine.toml: seeds\[1\]: 'gelu' is not a primitive"):
        evoact.load_search_space(path)
    path.write_text('seeds = ["add(x, tanh(x))"]' + GOOD)
    assert list(evoact.load_search_space(path).seeds) == ["add(x, tanh(x))"]


def test_a_run_made_before_a_check_still_reads_its_space():
    """The checks added since are for new spaces: a run's stored copy reads as it was accepted then."""
    for text in (
        'name = "t"\n[primitives]\nunary = ["gauss"]\n[terminals]\nlearnable = ["gauss"]\n[learnable]\ngauss = 1.0',
        GOOD + "[terminals]\nconstants = [1e-7]",
        'name = "t"\nstructure = "core_units"\n[primitives]\nunary = ["tanh"]\nbinary = ["add"]\n[limits]\n'
        "max_depth = 1\nmax_nodes = 3\ninit_min_depth = 1\ninit_max_depth = 1",
    ):
        with pytest.raises(SearchSpaceError):
            parse_search_space(text, "s.toml")
        assert parse_search_space(text, "config.json", stored=True).name == "t"
    spare = 'name = "t"\n[primitives]\nunary = ["tanh"]\n[terminals]\nlearnable = ["gauss"]\n[learnable]\ngauss = 1.0'
    assert parse_search_space(spare, "s.toml").learnable == {"gauss": 1.0}  # a primitive the space lacks: no clash
    units = 'name = "t"\nstructure = "core_units"\n[primitives]\nunary = ["tanh"]\nbinary = ["add"]\n[limits]\n'
    assert parse_search_space(units + "max_depth = 2\nmax_nodes = 5\ninit_min_depth = 1\ninit_max_depth = 1", "s")


def test_a_run_made_before_names_were_checked_still_reads_its_space():
    """The name rule is for new spaces: the text a run stored is read as it was accepted then."""
    text = 'name = "my space"\n[primitives]\nunary = ["tanh"]\n'
    with pytest.raises(SearchSpaceError, match="name: 'my space': letters"):
        parse_search_space(text, "s.toml")
    assert parse_search_space(text, "config.json", stored=True).name == "my space"


def test_the_space_format_documents_every_primitive(repo_root):
    from evoact.primitives import PRIMITIVES

    documented = (repo_root / "docs" / "SEARCH_SPACES.md").read_text()
    for primitive in PRIMITIVES.values():
        row = next(
            line for line in documented.splitlines() if line.startswith(f"| `{primitive.name}` | {primitive.arity} |")
        )
        assert all(f"uses `{c}`" in row for c in primitive.constants), row
        meaning = row.split(" | ")[2].replace("\\|", "|").replace("\\*", "*")  # the table's cells, unescaped
        assert meaning == primitive.meaning, row  # the docs' column is the table's field, word for word
