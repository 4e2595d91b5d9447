"""attncli vocab: the toy vocabulary (or a config's embeddings), word vectors and nearest neighbours."""

from __future__ import annotations

from typing import Annotated, Optional

import typer

from attncli.cli.options import OutputOptions, complete_config, output_options
from attncli.cli.boundary import guarded

app = typer.Typer()


@app.command("vocab")
@output_options
def vocab(
    words: Annotated[Optional[list[str]], typer.Argument(
        help="Words to look up: their vectors and nearest neighbours by cosine.", show_default=False)] = None,
    config: Annotated[Optional[str], typer.Option(
        "--config", "-c", metavar="PATH_OR_NAME", autocompletion=complete_config,
        help="Use this config's embeddings instead of the built-in vocabulary.")] = None,
    neighbors: Annotated[int, typer.Option("--neighbors", "-k", help="How many nearest neighbours to list.")] = 5,
    *,
    out: OutputOptions,
) -> None:
    """List the built-in toy vocabulary, or show WORDS' vectors and nearest neighbours.

    Examples:

      attncli vocab

      attncli vocab bank river money

      attncli vocab -c bank --json
    """
    guarded(out, lambda env: _vocab(env, words or [], config, neighbors, out))


def _vocab(env, words, config, neighbors, out: OutputOptions) -> None:
    from attncli.core import vocabulary
    from attncli.errors import AttnError
    import unicodedata

    from attncli.core.tokens import embed

    if neighbors < 1:
        raise AttnError(f"must be at least 1, got {neighbors}", where="--neighbors")
    if config is not None:
        from attncli.config import load_settings

        settings = load_settings(config)
        if settings.tensors is not None:
            raise AttnError("this config gives tensors directly and has no vocabulary", where="--config")
        table = settings.embeddings if settings.embeddings is not None else vocabulary.TOY_VOCABULARY
        source = settings.source if settings.embeddings is not None else "built-in"
        dim = settings.d_model
    else:
        table, source, dim = vocabulary.TOY_VOCABULARY, "built-in", vocabulary.D_MODEL
    table = {k: list(v) for k, v in table.items()}

    if not words:
        doc = {"source": source, "d_model": dim, "size": len(table),
               "words": [{"token": w, "vector": v, "seed": vocabulary.SEED_WORDS.get(w) if source == "built-in"
                          else None} for w, v in table.items()]}
        make_view = lambda doc, width: _list_view(doc, out.precision)  # noqa: E731
    else:
        entries = []
        for word in words:
            typed = unicodedata.normalize("NFC", word)  # looked up as run looks a token up (NFC, any case)
            found = embed([typed], table, dim)
            vector, oov = found.vectors[0], found.oov[0]
            key = typed.lower()
            ranked = sorted(((other, _cosine(vector, v, word, other)) for other, v in table.items()
                             if unicodedata.normalize("NFC", other) != key),
                            key=lambda item: -(item[1] if item[1] is not None else -2))
            entries.append({"token": typed, "oov": oov, "vector": vector,
                            "neighbors": [{"token": t, "cosine": c} for t, c in ranked[:neighbors]]})
        doc = {"source": source, "d_model": dim, "words": entries}
        make_view = lambda doc, width: _words_view(doc, out.precision)  # noqa: E731
    env.emit(doc, out, make_view)


def _cosine(a, b, word: str, other: str):
    """The cosine of two vectors of any finite size (1e200 included); a non-finite one is an error."""
    from attncli.core.similarity import cosine
    from attncli.errors import numeric_error

    try:
        return cosine(a, b)
    except ValueError:
        bad = word if any(x != x or x in (float("inf"), float("-inf")) for x in a) else other
        raise numeric_error(f"the vector of {bad!r} has a non-finite component (nan or inf)", where="vocab",
                            hint="give finite numbers under embeddings:") from None


def _list_view(doc, precision):
    from rich.console import Group
    from rich.text import Text

    from attncli.io.textsafe import visible
    from attncli.render.matrix import vector_table

    labels = [w["token"] + (f" ({w['seed']})" if w["seed"] else "") for w in doc["words"]]
    table = vector_table(labels, [w["vector"] for w in doc["words"]], precision=2 if precision is None else precision,
                         title=f"{doc['size']} words, {doc['d_model']} dimensions ({visible(doc['source'])})")
    note = Text("(000), (004): the seed a word's vector comes from", style="dim") if doc["source"] == "built-in" \
        else Text("")
    return Group(table, note)


def _words_view(doc, precision):
    from rich import box
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    from attncli.io.textsafe import visible
    from attncli.render.layout import label
    from attncli.render.matrix import vector_table

    p = 3 if precision is None else precision
    parts = [vector_table([w["token"] + (" (oov)" if w["oov"] else "") for w in doc["words"]],
                          [w["vector"] for w in doc["words"]], precision=p, title="vectors")]
    for w in doc["words"]:
        table = Table(box=box.SIMPLE_HEAD, pad_edge=False, show_edge=False, padding=(0, 0, 0, 1))
        table.add_column("neighbour")
        table.add_column("cosine", justify="right")
        for n in w["neighbors"]:
            table.add_row(Text(label(n["token"])), "n/a" if n["cosine"] is None else f"{n['cosine']:.{p}f}")
        parts += [Text(""), Text(f"nearest to {visible(w['token'])}", style="bold"), table]
    return Group(*parts)
