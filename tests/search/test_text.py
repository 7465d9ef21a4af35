"""Terms and snippets: the same folding on the index and the query side."""

from mailboxes.search.backends.database import fts5_match, tsquery_text, tsvector_literal
from mailboxes.search.query import Text
from mailboxes.search.text import fold, highlight, index_terms, query_terms


def test_latin_is_folded_for_case_and_accents():
    assert fold("Crème BRÛLÉE Ångström") == "creme brulee angstrom"
    assert index_terms("Zoë's e-mail, naïve café") == ["zoe", "s", "e", "mail", "naive", "cafe"]


def test_fullwidth_and_ligatures_are_normalised():
    assert index_terms("ＡＢＣ ﬁle") == ["abc", "file"]


def test_cjk_runs_become_bigrams_and_their_last_character():
    assert index_terms("我在北京") == ["我在", "在北", "北京", "京"]
    assert index_terms("hello世界") == ["hello", "世界", "界"]


def test_query_side_of_cjk():
    assert query_terms("北京大学") == (["北京", "京大", "大学"], False)
    assert query_terms("北") == (["北"], True)


def test_highlight_marks_folded_matches_in_the_original_text():
    snippet = highlight("A Crème brûlée & <b>café</b>", [("creme", False), ("cafe", False)])
    assert snippet == "A <mark>Crème</mark> brûlée &amp; &lt;b&gt;<mark>café</mark>&lt;/b&gt;"


def test_highlight_marks_a_prefix_to_the_end_of_the_word():
    assert highlight("invoices attached", [("invoic", True)]) == "<mark>invoices</mark> attached"


def test_highlight_does_not_mark_inside_words():
    assert highlight("cartoon art", [("art", False)]) == "cartoon <mark>art</mark>"


def test_highlight_starts_near_the_first_match_of_a_long_text():
    text = "filler " * 200 + "the needle is here " + "more " * 50
    snippet = highlight(text, [("needle", False)])
    assert snippet.startswith("…") and snippet.endswith("…")
    assert "<mark>needle</mark>" in snippet and len(snippet) < 260


def test_tsvector_literal_weights_and_separates_fields():
    literal = tsvector_literal([(["big", "deal"], "A"), (["deal"], "C")])
    assert literal == "'big':1A 'deal':2A,4C"


def test_tsvector_literal_escapes_quotes():
    assert tsvector_literal([(["it's"], "A")]) == "'it''s':1A"


def test_tsquery_of_a_phrase_prefix_and_weight():
    assert tsquery_text(Text("quarterly report")) == "'quarterly' <-> 'report'"
    assert tsquery_text(Text("invoic", prefix=True), weight="A") == "'invoic':*A"
    assert tsquery_text(Text("京")) == "'京':*"


def test_fts5_expression_of_a_field_and_a_prefix():
    assert fts5_match(Text("alice@example.test", field="from")) == 'sender : "alice example test"'
    assert fts5_match(Text("repo", field="filename", prefix=True)) == 'filenames : "repo"*'
    assert fts5_match(Text("北京大学")) == '"北京 京大 大学"'


def test_tsvector_literal_numbers_positions_across_fields_and_quotes_what_needs_it():
    literal = tsvector_literal([(["a", "b", "a"], "A"), (["o'k", "b\\c"], "B"), ([], "C"), (["a"], "D")])
    assert literal == "'a':1A,3A,9D 'b':2A 'o''k':5B 'b\\\\c':6B"


def test_tsvector_literal_stops_at_postgresqls_limits():
    """Positions past 16383 are 16383; a lexeme keeps its first 255 positions."""
    literal = tsvector_literal([(["w"] * 300 + [f"t{n}" for n in range(16_100)], "C"), (["late"], "A")])
    lexemes = dict(entry.split(":", 1) for entry in literal.split(" "))
    assert lexemes["'w'"] == ",".join(f"{n}C" for n in range(1, 256))
    assert lexemes["'t16081'"] == "16382C"
    assert lexemes["'t16082'"] == lexemes["'t16099'"] == "16383C"
    assert lexemes["'late'"] == "16383A"
