"""Source recommender: DTW, DBA prototypes and the bigdata18 inter-dataset similarity index."""

from tshub.similarity.averaging import dba, medoid_index
from tshub.similarity.index import SimilarityIndex
from tshub.similarity.warping import cdist_dtw, dtw, dtw_path, set_threads

__all__ = ["dtw", "dtw_path", "cdist_dtw", "dba", "medoid_index", "SimilarityIndex", "set_threads"]
