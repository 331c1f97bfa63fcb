from django.core.management.base import BaseCommand

from dsa.defaults import install_default_dsa_mappings


class Command(BaseCommand):
    help = "Creates the default DSA outcome/policy mappings and public reasons that do not exist yet (audited)."

    def handle(self, *args, **options):
        created = install_default_dsa_mappings()
        self.stdout.write(f"{created} DSA mappings and reasons created")
