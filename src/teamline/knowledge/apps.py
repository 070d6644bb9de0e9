from django.apps import AppConfig


class KnowledgeConfig(AppConfig):
    name = "teamline.knowledge"
    label = "knowledge"
    verbose_name = "Knowledge base"
