"""Embedders against a local stand-in of the providers' HTTP APIs (started by the test on a
loopback port), and a client that inserts documents and searches text through one."""
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import hyperspace
from hyperspace import embedders
from conftest import grpc_client

WORDS = ["apple", "banana", "cherry", "dog"]


def fake_embedding(text):
    """A deterministic 4-d embedding: word counts plus a small constant (never zero)."""
    t = text.lower()
    return [t.count(w) + 0.01 for w in WORDS]


class StandIn(BaseHTTPRequestHandler):
    seen = []

    def log_message(self, *a):
        pass

    def _answer(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        StandIn.seen.append((self.path, dict(self.headers), body))
        auth = self.headers.get("Authorization")
        if self.path.startswith("/v1beta/"):  # Google: key in the query
            if "key=good" not in self.path:
                return self._answer(403, {"error": {"message": "API key not valid"}})
            text = body["content"]["parts"][0]["text"]
            return self._answer(200, {"embedding": {"values": fake_embedding(text)}})
        if auth != "Bearer good":
            return self._answer(401, {"error": {"message": "Incorrect API key provided"}})
        if self.path == "/v1/embeddings":  # OpenAI-compatible (OpenAI, OpenRouter, Voyage)
            if body.get("model") == "broken":
                return self._answer(200, {"data": [{"index": 0, "embedding": "nope"}]})
            data = [{"object": "embedding", "index": i, "embedding": fake_embedding(t)}
                    for i, t in enumerate(body["input"])]
            data.reverse()  # order comes from `index`
            return self._answer(200, {"object": "list", "data": data, "model": body["model"]})
        if self.path == "/v1/embed":  # Cohere
            return self._answer(200, {"embeddings": [fake_embedding(t) for t in body["texts"]]})
        self._answer(404, {"error": "no route"})


@pytest.fixture(scope="module")
def stand_in():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), StandIn)
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield "http://127.0.0.1:%d" % srv.server_address[1]
    srv.shutdown()
    srv.server_close()


def test_openai_compatible_embedder(stand_in):
    StandIn.seen.clear()
    e = hyperspace.OpenAIEmbedder("good", model="text-embedding-3-small",
                                  base_url=stand_in + "/v1", dimensions=4)
    assert e.encode("apple\napple pie") == [2.01, 0.01, 0.01, 0.01]
    path, headers, body = StandIn.seen[-1]
    assert path == "/v1/embeddings" and headers["Authorization"] == "Bearer good"
    assert body == {"input": ["apple apple pie"], "model": "text-embedding-3-small",
                    "dimensions": 4}
    assert e.encode_batch(["dog", "banana dog"]) == [[0.01, 0.01, 0.01, 1.01],
                                                     [0.01, 1.01, 0.01, 1.01]]
    assert len(StandIn.seen) == 2  # one request for the batch
    with pytest.raises(embedders.EmbeddingError) as ei:
        hyperspace.OpenAIEmbedder("bad", base_url=stand_in + "/v1").encode("x")
    assert ei.value.details["http_status"] == 401 and "Incorrect API key" in ei.value.message
    with pytest.raises(embedders.EmbeddingError):
        hyperspace.OpenAIEmbedder("good", model="broken", base_url=stand_in + "/v1").encode("x")


def test_other_providers(stand_in):
    for e in (hyperspace.OpenRouterEmbedder("good", "m", base_url=stand_in + "/v1"),
              hyperspace.VoyageEmbedder("good", base_url=stand_in + "/v1"),
              hyperspace.CohereEmbedder("good", base_url=stand_in + "/v1"),
              hyperspace.GoogleEmbedder("good", base_url=stand_in + "/v1beta")):
        assert e.encode("cherry cherry") == [0.01, 0.01, 2.01, 0.01], type(e).__name__
    assert StandIn.seen[-2][2]["input_type"] == "search_document"  # Cohere's default
    assert StandIn.seen[-1][0].startswith("/v1beta/models/embedding-001:embedContent?key=good")
    with pytest.raises(embedders.EmbeddingError):
        hyperspace.GoogleEmbedder("bad", base_url=stand_in + "/v1beta").encode("x")
    with pytest.raises((ImportError, Exception)):
        hyperspace.SentenceTransformerEmbedder().encode("x")  # not installed here


def test_custom_embedder_interface():
    class Upper(hyperspace.BaseEmbedder):
        def encode(self, text):
            return [float(len(text)), 1.0]
    assert Upper().encode_batch(["ab", "c"]) == [[2.0, 1.0], [1.0, 1.0]]


def test_client_embeds_documents_and_queries(stand_in, shared_server):
    e = hyperspace.OpenAIEmbedder("good", base_url=stand_in + "/v1")
    c = grpc_client(shared_server, embedder=e, raise_errors=True)
    c.create_collection("emb_docs", 4, "cosine")
    docs = {1: "apple apple", 2: "banana split", 3: "cherry on top", 4: "a dog and a banana"}
    for i, text in docs.items():
        assert c.insert(i, document=text, metadata={"text": text}, collection="emb_docs")
    hits = c.search(query_text="banana", top_k=2, collection="emb_docs")
    assert hits[0]["id"] == 2 and hits[0]["metadata"]["text"] == "banana split"
    # hybrid_alpha without hybrid_query reuses the query text as the keyword query
    hy = c.search(query_text="dog", top_k=1, hybrid_alpha=0.5, collection="emb_docs")
    assert hy[0]["id"] == 4 and hy[0]["score"] > 0
    with pytest.raises(ValueError):
        grpc_client(shared_server).insert(5, document="no embedder", collection="emb_docs")
    c.delete_collection("emb_docs")
