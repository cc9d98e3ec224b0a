"""`kerastune predict`: answers texts with any kerastune export, as a served model would.

The SavedModel is loaded with TensorFlow alone (plus TensorFlow Text's ops), as TF Serving does; its
`serving_default` signature says what it is: `text` (and `text_pair`) in and `label_names` out is a
text classifier, `tags` out a token classifier, `embeddings` out a sentence encoder, `prompts` in a causal LM,
`question` and `context` in a question answerer, `sources` in an encoder-decoder.
"""

import os


def find_saved_model(path):
    """The SavedModel directory `path` names: itself, or its highest integer version sub-directory."""
    path = str(path)
    if os.path.isfile(os.path.join(path, "saved_model.pb")):
        return path
    if not os.path.isdir(path):
        raise FileNotFoundError(f"There is no such directory. Pass a kerastune export such as "
                                f"saved_models/sst2_minilm (its latest version) or saved_models/sst2_minilm/1. "
                                f"Received: path={path!r}")
    versions = sorted((int(n) for n in os.listdir(path) if n.isdigit()
                       and os.path.isfile(os.path.join(path, n, "saved_model.pb"))), reverse=True)
    if not versions:
        raise ValueError(f"The directory is not a SavedModel (no saved_model.pb) and holds no version "
                         f"directory with one. Pass a kerastune export such as saved_models/sst2_minilm/1. "
                         f"Received: path={path!r}")
    return os.path.join(path, str(versions[0]))


def one_line(text):
    """`text` on one line, reversibly: a backslash written `\\\\`, a newline `\\n`.

    Example:

    >>> print(one_line("two\\nlines \\\\ here"))
    two\\nlines \\\\ here
    """
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def predict_lines(path, texts):
    """Loads the export at `path` and returns one printable line per text (or per prompt).

    Text classifiers answer `label<TAB>probability<TAB>text` (plus a note for an empty or truncated
    text); token classifiers `word/TAG ...`;
    causal LMs the prompt and its continuation (an instruction-tuned one its response alone, on one line: newlines
    in it written `\\n`, backslashes `\\\\`); encoder-decoder
    models what they write for each source; sentence
    encoders, for each text, the most similar other text given and their cosine similarity
    (`text<TAB>nearest: other (cosine 0.8123)`). Pair classifiers take `first<TAB>second` texts, question
    answerers `question<TAB>context` and answer `answer<TAB>score<TAB>question` (`(no answer)<TAB>margin` when
    the model finds none: how far its no-answer score passed the best span's).
    """
    if not texts:
        raise ValueError('Give at least one text to answer: kerastune predict DIR "a text" ... Received: texts=[]')
    directory = find_saved_model(path)  # bad input fails before TensorFlow starts
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the WordPiece ops of the serving graph)

    try:
        signature = tf.saved_model.load(directory).signatures["serving_default"]
    except (KeyError, OSError, ValueError) as error:
        raise ValueError(f"{directory} is not a kerastune export with a serving_default signature ({error}).") from None
    inputs = set(signature.structured_input_signature[1])
    outputs = set(signature.structured_outputs)
    if inputs == {"prompts"}:
        out = signature(prompts=tf.constant(texts))
        if "response" not in outputs:
            return [t.decode("utf-8", "replace") for t in out["generated_text"].numpy()]
        return [one_line(t.decode("utf-8", "replace")) for t in out["response"].numpy()]  # instruction-tuned
    if inputs == {"question", "context"}:
        return _answer_lines(signature, texts)
    if inputs == {"sources"}:  # an encoder-decoder model: what it writes for each source
        targets = signature(sources=tf.constant(texts))["targets"].numpy()
        return [one_line(t.decode("utf-8", "replace")) for t in targets]
    if "text_pair" in inputs:
        pairs = _tab_pairs(texts, "This classifier takes text pairs: pass each as 'first<TAB>second'.")
        out = signature(text=tf.constant([p[0] for p in pairs]), text_pair=tf.constant([p[1] for p in pairs]))
    elif inputs == {"text"}:
        out = signature(text=tf.constant(texts))
    else:
        raise ValueError(f"{directory}: serving_default takes {sorted(inputs)}, not a kerastune export's inputs.")
    if "label_names" in outputs:
        names = out["label_names"].numpy()
        probabilities = out["probabilities"].numpy().max(axis=-1)
        lines = [f"{n.decode('utf-8')}\t{p:.4f}\t{t}" for n, p, t in zip(names, probabilities, texts)]
        if "num_tokens" in outputs:  # exports before these outputs answer without the notes
            for i, (used, cut) in enumerate(zip(out["num_tokens"].numpy(), out["truncated"].numpy())):
                if used == 0:
                    lines[i] += "\t(empty: no word piece read, the label means nothing)"
                elif cut:
                    lines[i] += f"\t(truncated: the model read {used} of its word pieces)"
        return lines
    if "embeddings" in outputs:
        return _nearest_lines(out["embeddings"].numpy(), out["num_tokens"].numpy(), out["truncated"].numpy(), texts)
    if "tags" in outputs:
        words, tags, counts = out["words"].numpy(), out["tags"].numpy(), out["num_words"].numpy()
        return [" ".join(f"{w.decode('utf-8')}/{g.decode('utf-8')}" for w, g in zip(ws[:n], gs[:n]))
                for ws, gs, n in zip(words, tags, counts)]
    raise ValueError(f"{directory}: serving_default returns {sorted(outputs)}, not a kerastune export's outputs.")


def _nearest_lines(embeddings, num_tokens, truncated, texts):
    """For each text, the most similar other text by cosine similarity (one text: its embedding's size)."""
    import numpy as np

    unit = embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12)
    similarity = unit @ unit.T
    np.fill_diagonal(similarity, -np.inf)
    lines = []
    for i, text in enumerate(texts):
        if len(texts) == 1:
            lines.append(f"{text}\t{embeddings.shape[1]}-dimensional embedding (give several texts to compare them)")
        else:
            j = int(similarity[i].argmax())
            lines.append(f"{text}\tnearest: {texts[j]} (cosine {similarity[i, j]:.4f})")
        if num_tokens[i] == 0:
            lines[-1] += "\t(empty: no word piece read, the embedding means nothing)"
        elif truncated[i]:
            lines[-1] += f"\t(truncated: the model read {num_tokens[i]} of its word pieces)"
    return lines


def _answer_lines(signature, texts):
    """`answer<TAB>score<TAB>question` for each `question<TAB>context` text (a question answerer's export)."""
    import tensorflow as tf

    pairs = _tab_pairs(texts, "This model answers questions from a context: pass each as 'question<TAB>context'.")
    out = signature(question=tf.constant([p[0] for p in pairs]), context=tf.constant([p[1] for p in pairs]))
    lines = []
    for (question, _), answer, score, no_answer, cut in zip(pairs, out["answer"].numpy(), out["score"].numpy(),
                                                            out["no_answer_score"].numpy(),
                                                            out["question_truncated"].numpy()):
        text = answer.decode("utf-8", "replace")
        # an answer's span score, or how far "no answer" outscored the best span
        line = f"{text}\t{score:.4f}" if text else f"(no answer)\t{no_answer:.4f}"
        lines.append(f"{line}\t{question}" + ("\t(question truncated)" if cut else ""))
    return lines


def _tab_pairs(texts, how):
    """Each text split at its first tab into two parts; a text without a tab is an error that starts with `how`."""
    pairs = [t.split("\t", 1) for t in texts]
    bad = [t for t, p in zip(texts, pairs) if len(p) != 2]
    if bad:
        raise ValueError(f"{how} Received: text={bad[0]!r}")
    return pairs
