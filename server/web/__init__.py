"""The hub as web pages, served by ``tshub serve`` under /ui from the same process as the API.

The catalogue (model list, model pages, checkpoint zips) is public, as the Hub's public repos are. The pages
about one's own data and jobs are static shells whose script calls the /v1 API with the token the user pasted
(kept in the tab's sessionStorage, sent as the same ``Authorization: Bearer`` header), so every call goes
through the API's own authentication, tenant isolation, limits and quotas.
"""
