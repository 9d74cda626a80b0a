"""A minimal Django project using gitmodel, in one file with its settings in code.

    GITMODEL_REPOSITORY=site.git python django_site.py [PORT]

serves the site (``/pages/<slug>``) and, under ``/cms/``, the gitmodel admin
on 127.0.0.1, with the standard library's WSGI server; the first line of
output is the URL. In production, point any WSGI server (gunicorn, uWSGI,
mod_wsgi) at ``django_site:application``.
"""

import os
import socketserver
import sys
from wsgiref.simple_server import WSGIServer, make_server

import django
from django.conf import settings

from gitmodel import Workspace, fields
from gitmodel.web import create_wsgi_app

settings.configure(
    DEBUG=False,
    SECRET_KEY=os.environ.get("DJANGO_SECRET_KEY", "only-for-trying-it-out"),
    ALLOWED_HOSTS=["127.0.0.1", "localhost"],
    ROOT_URLCONF=__name__,
    MIDDLEWARE=[f"{__name__}.one_unit_of_work_per_request"],
)
django.setup()

from django.core.wsgi import get_wsgi_application  # noqa: E402 (after setup)
from django.http import Http404, JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402
from django.views.decorators.http import require_GET  # noqa: E402

ws = Workspace(os.environ["GITMODEL_REPOSITORY"])  # one per process, shared by its threads


class Page(ws.GitModel):
    slug = fields.SlugField(id=True)
    title = fields.CharField()
    body = fields.CharField(required=False)


def one_unit_of_work_per_request(get_response):
    """Each request runs in a fresh unit of work, on the branch's latest commit."""
    def middleware(request):
        with ws.unit_of_work():
            return get_response(request)
    return middleware


@require_GET
def page_view(request, slug):
    try:
        page = Page.get(slug)
    except Page.DoesNotExist:
        raise Http404(slug)
    return JsonResponse({"slug": page.slug, "title": page.title})


urlpatterns = [path("pages/<slug:slug>", page_view)]

# What a project's wsgi.py holds: Django's application, the admin mounted
# under /cms (the request's SCRIPT_NAME is the admin's root).
django_application = get_wsgi_application()
admin = create_wsgi_app(ws)


def application(environ, start_response):
    path_info = environ.get("PATH_INFO", "")
    if path_info == "/cms" or path_info.startswith("/cms/"):
        environ = {**environ, "SCRIPT_NAME": environ.get("SCRIPT_NAME", "") + "/cms",
                   "PATH_INFO": path_info[len("/cms"):]}
        return admin(environ, start_response)
    return django_application(environ, start_response)


class ThreadingWSGIServer(socketserver.ThreadingMixIn, WSGIServer):
    daemon_threads = True


if __name__ == "__main__":
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8000
    with make_server("127.0.0.1", port, application, server_class=ThreadingWSGIServer) as server:
        print(f"http://127.0.0.1:{server.server_port}/", flush=True)
        server.serve_forever()
