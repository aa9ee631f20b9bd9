from tests.e2e.test_metrics import *  # noqa
def test_dbg(published):
    print([ (s.name, s.labels, s.value) for s in published.scrape.samples if "token" in s.name or "published" in s.name])
    print(published.image_namespace, published.token_expiration)
