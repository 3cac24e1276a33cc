"""The tshub fine-tune service: upload a dataset, fine-tune a pretrained checkpoint on it, download the model.

``server.app.create_app`` builds the FastAPI app, ``server.worker`` runs the jobs, ``tshub serve`` starts both.
"""
