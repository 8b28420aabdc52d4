"""Client-side embedders: text -> vector, used by insert(document=...) and search(query_text=...).

The interface is one method: ``encode(text) -> list[float]``.  Subclass `BaseEmbedder` (or give
any object with that method) to plug in another model; `encode_batch(texts)` has a default
that calls `encode` per text, and HTTP embedders override it with one request.

The HTTP embedders speak their provider's public JSON API with the standard library only;
every one takes `base_url`, so an OpenAI-compatible server (a local one, a proxy) works too.
`SentenceTransformerEmbedder` needs the `sentence-transformers` package, imported on first use.
None of them normalises or projects into the Poincaré ball: do that before inserting into a
Poincaré collection.
"""
import json
import urllib.error
import urllib.request

from .errors import HyperspaceError

__all__ = ["BaseEmbedder", "EmbeddingError", "OpenAIEmbedder", "OpenRouterEmbedder",
           "CohereEmbedder", "VoyageEmbedder", "GoogleEmbedder", "SentenceTransformerEmbedder"]


class EmbeddingError(HyperspaceError):
    """The embedding service failed or answered something that is not an embedding."""
    status = "EMBEDDING_FAILED"


class BaseEmbedder:
    """encode(text) -> list[float]; encode_batch(texts) -> list[list[float]]."""

    def encode(self, text):
        raise NotImplementedError

    def encode_batch(self, texts):
        return [self.encode(t) for t in texts]


class _HttpEmbedder(BaseEmbedder):
    def __init__(self, api_key, model, base_url, timeout=30.0):
        self.api_key, self.model = api_key, model
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout

    def _headers(self):
        h = {"Content-Type": "application/json"}
        if self.api_key:
            h["Authorization"] = "Bearer " + self.api_key
        return h

    def _post(self, url, body, headers=None):
        req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers=headers or self._headers())
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                return json.loads(r.read())
        except urllib.error.HTTPError as e:
            text = e.read().decode("utf-8", "replace")[:500]
            raise EmbeddingError("%s answered HTTP %d: %s" % (url, e.code, text),
                                 details={"http_status": e.code}, method="embed") from None
        except (urllib.error.URLError, OSError, ValueError) as e:
            raise EmbeddingError("%s: %s" % (url, e), method="embed") from None

    @staticmethod
    def _vectors(items, count, where):
        if not isinstance(items, list) or len(items) != count or not all(
                isinstance(v, list) and v and all(isinstance(x, (int, float)) for x in v)
                for v in items):
            raise EmbeddingError("%s: the answer holds no %d embeddings" % (where, count),
                                 method="embed")
        return [[float(x) for x in v] for v in items]

    def encode(self, text):
        return self.encode_batch([text])[0]


class OpenAIEmbedder(_HttpEmbedder):
    """POST {base_url}/embeddings {"input": [...], "model"} -> data[].embedding (in `index`
    order).  Newlines are replaced by spaces, as OpenAI recommends.  `dimensions` asks the
    text-embedding-3 models for shorter vectors."""

    def __init__(self, api_key, model="text-embedding-3-small",
                 base_url="https://api.openai.com/v1", dimensions=None, timeout=30.0):
        super().__init__(api_key, model, base_url, timeout)
        self.dimensions = dimensions

    def encode_batch(self, texts):
        texts = [t.replace("\n", " ") for t in texts]
        body = {"input": texts, "model": self.model}
        if self.dimensions:
            body["dimensions"] = int(self.dimensions)
        r = self._post(self.base_url + "/embeddings", body)
        data = r.get("data") if isinstance(r, dict) else None
        if isinstance(data, list) and all(isinstance(d, dict) for d in data):
            data = sorted(data, key=lambda d: d.get("index", 0))
            return self._vectors([d.get("embedding") for d in data], len(texts), "embeddings")
        raise EmbeddingError("embeddings: the answer has no 'data' list", method="embed")


class OpenRouterEmbedder(OpenAIEmbedder):
    def __init__(self, api_key, model, base_url="https://openrouter.ai/api/v1", timeout=30.0):
        super().__init__(api_key, model, base_url, timeout=timeout)


class VoyageEmbedder(OpenAIEmbedder):
    def __init__(self, api_key, model="voyage-large-3.5", base_url="https://api.voyageai.com/v1",
                 timeout=30.0):
        super().__init__(api_key, model, base_url, timeout=timeout)

    def encode_batch(self, texts):  # Voyage takes newlines as they are
        r = self._post(self.base_url + "/embeddings", {"input": list(texts), "model": self.model})
        data = r.get("data") if isinstance(r, dict) else None
        if not isinstance(data, list):
            raise EmbeddingError("embeddings: the answer has no 'data' list", method="embed")
        return self._vectors([d.get("embedding") for d in data], len(texts), "embeddings")


class CohereEmbedder(_HttpEmbedder):
    """POST {base_url}/embed {"texts", "model", "input_type"} -> embeddings."""

    def __init__(self, api_key, model="embed-english-v3.0", input_type="search_document",
                 base_url="https://api.cohere.ai/v1", timeout=30.0):
        super().__init__(api_key, model, base_url, timeout)
        self.input_type = input_type

    def encode_batch(self, texts):
        r = self._post(self.base_url + "/embed", {"texts": list(texts), "model": self.model,
                                                  "input_type": self.input_type})
        return self._vectors(r.get("embeddings") if isinstance(r, dict) else None, len(texts),
                             "embed")


class GoogleEmbedder(_HttpEmbedder):
    """POST {base_url}/{model}:embedContent?key=... {"content":{"parts":[{"text"}]}}
    -> embedding.values."""

    def __init__(self, api_key, model="models/embedding-001",
                 base_url="https://generativelanguage.googleapis.com/v1beta", timeout=30.0):
        super().__init__(api_key, model, base_url, timeout)

    def encode(self, text):
        url = "%s/%s:embedContent?key=%s" % (self.base_url, self.model,
                                             urllib.request.quote(self.api_key or ""))
        r = self._post(url, {"model": self.model, "content": {"parts": [{"text": text}]}},
                       headers={"Content-Type": "application/json"})
        emb = r.get("embedding") if isinstance(r, dict) else None
        values = emb.get("values") if isinstance(emb, dict) else None
        return self._vectors([values], 1, "embedContent")[0]

    def encode_batch(self, texts):
        return [self.encode(t) for t in texts]


class SentenceTransformerEmbedder(BaseEmbedder):
    """A local sentence-transformers model (pip install sentence-transformers)."""

    def __init__(self, model_name="BAAI/bge-m3", device=None):
        self.model_name, self.device = model_name, device
        self._model = None

    def _load(self):
        if self._model is None:
            try:
                from sentence_transformers import SentenceTransformer
            except ImportError:
                raise ImportError("SentenceTransformerEmbedder needs the sentence-transformers "
                                  "package") from None
            self._model = SentenceTransformer(self.model_name, device=self.device)
        return self._model

    def encode(self, text):
        return [float(x) for x in self._load().encode(text)]

    def encode_batch(self, texts):
        return [[float(x) for x in v] for v in self._load().encode(list(texts))]
