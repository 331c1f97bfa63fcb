from .roles import roles_of


def console(request):
    return {"roles": roles_of(request) if hasattr(request, "user") else None}
