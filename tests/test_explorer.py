"""The review explorer of notebook 05: a typed text is encoded as the data is, and its
callback shows the model's own prediction for the review it is given."""

import keras
import matplotlib.pyplot as plt
import numpy as np
import pytest

from utils import probes
from utils.models import sentiment_model
from utils.plots import ReviewExplorer

VOCABULARY = ["", "[UNK]", "the", "film", "good", "bad", "not", "ending", "i", "it's", "a", "plot",
              "acting", "was", "great", "awful", "and", "but", "then", "movie"]
SMALL = dict(units=3, embed_dim=4, vocab_size=len(VOCABULARY), maxlen=8)


@pytest.fixture(scope="module")
def model():
    keras.utils.set_random_seed(0)
    model = sentiment_model("both", **SMALL)
    model.set_weights([w * 3 for w in model.get_weights()])  # clearly different predictions
    return model


def predicted(model, ids):
    padded = np.zeros((1, SMALL["maxlen"]), "int32")
    padded[0, : len(ids)] = ids
    return float(model.predict(padded, verbose=0)[0, 0])


def test_a_typed_text_is_encoded_as_the_data_is():
    ids = probes.encode_text("The FILM was good,<br />but... it's zzz [UNK] awful!", VOCABULARY)
    assert ids.tolist() == [2, 3, 13, 4, 17, 9, 1, 1, 15]  # unknown words: [UNK] (1)
    assert probes.encode_text("the film was good", VOCABULARY, maxlen=2).tolist() == [2, 3]
    assert probes.encode_text("  ?! ", VOCABULARY).size == 0


def test_read_review_gives_the_model_prediction_and_each_half(model):
    text = "the acting was great but the ending awful"
    reading = probes.read_review(model, text, VOCABULARY)
    ids = probes.encode_text(text, VOCABULARY)
    assert reading.words == [VOCABULARY[i] for i in ids]
    assert reading.p_model == pytest.approx(predicted(model, ids), abs=1e-5)
    p_f, p_b = probes.direction_predictions(model, ids[None], stand_in={"forward": 0.3,
                                                                      "backward": -0.2})
    again = probes.read_review(model, text, VOCABULARY, stand_in={"forward": 0.3, "backward": -0.2})
    np.testing.assert_allclose(again.p_f, p_f[0], atol=1e-12)
    np.testing.assert_allclose(again.p_b, p_b[0], atol=1e-12)
    assert "p = " in reading.verdict and "0 not in the vocabulary" in reading.verdict
    with pytest.raises(ValueError, match="No words"):
        probes.read_review(model, " ... ", VOCABULARY)


def test_the_explorer_callback_shows_the_picked_or_typed_review(model):
    examples = {"first": "good film", "second": "bad acting and awful plot",
                "twin": "bad acting and awful plot"}
    explorer = ReviewExplorer(model, VOCABULARY, examples, maxlen=SMALL["maxlen"])
    assert explorer.reading.p_model == pytest.approx(predicted(model, [4, 3]), abs=1e-5)
    shown = explorer.verdict.value
    explorer.choice.value = "second"  # as a click on the dropdown would
    assert explorer.text.value == examples["second"]
    p = explorer.reading.p_model
    assert p == pytest.approx(predicted(model, [5, 12, 16, 15, 11]), abs=1e-5)
    assert explorer.verdict.value != shown and f"p = {p:.2f}" in explorer.verdict.value
    explorer.reading = None
    explorer.choice.value = "twin"  # the same text as "second": no change event, shown all the same
    assert explorer.reading.words == ["bad", "acting", "and", "awful", "plot"]
    explorer.text.value = "zzz good"  # typed: the unknown word is [UNK]
    assert explorer.reading.words == ["[UNK]", "good"]
    assert "1 not in the vocabulary" in explorer.verdict.value
    fig = explorer.figure()
    assert len(fig.axes) == 2
    plt.close(fig)
    shown_png = bytes(explorer.picture.value)
    assert shown_png.startswith(b"\x89PNG")  # the figure, drawn into the image widget
    explorer.text.value = "good film"
    assert bytes(explorer.picture.value).startswith(b"\x89PNG")
    assert bytes(explorer.picture.value) != shown_png
    explorer.text.value = "   "  # empty: a clear message, no reading, no figure
    assert explorer.reading is None and "No words to read" in explorer.verdict.value
    assert bytes(explorer.picture.value) == b""
    with pytest.raises(ValueError, match="No words"):
        explorer.figure()



def test_the_widget_shows_a_note_where_widgets_do_not_render(model, monkeypatch):
    import IPython.display

    explorer = ReviewExplorer(model, VOCABULARY, {"only": "good film"}, maxlen=SMALL["maxlen"])
    shown = []
    monkeypatch.setattr(IPython.display, "display", lambda obj, **kw: shown.append((obj, kw)))
    explorer.show_widget()  # ipywidgets 8: the widget's own bundle, a note as its plain text
    ((bundle, options),) = shown
    assert options == {"raw": True} and "live kernel" in bundle["text/plain"]
    assert "application/vnd.jupyter.widget-view+json" in bundle
    explorer.widget = old_style = object()  # as an ipywidgets 7 widget: no mime bundle to edit
    explorer.show_widget()
    assert shown[-1] == (old_style, {})
