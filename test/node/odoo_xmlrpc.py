"""
A local stand-in for Odoo's external API (XML-RPC), for mailgate's tests
(started by test/node/odoo.ts). Python's own xmlrpc.client reads the calls,
as Odoo's `/xmlrpc/2/<service>` controller does (odoo/addons/base/controllers/rpc.py),
and answers and faults are written the way Odoo writes them:

- `/xmlrpc/2/common` `authenticate(db, login, password, user_agent_env)`:
  the user id, or False for a wrong login or password (Odoo's
  exp_authenticate swallows AccessDenied); an unknown database raises
  psycopg2's OperationalError, as Odoo's registry does.
- `/xmlrpc/2/object` `execute_kw(db, uid, password, model, method, args, kwargs)`:
  AccessDenied (fault 3, "Access Denied") for a wrong uid or password, a
  KeyError for a model other than mail.thread, an AttributeError for a
  method other than message_process, a TypeError for wrong arity, as Odoo's
  dispatcher would. `message_process(model, message, custom_values=None,
  save_original=False, strip_attachments=False, thread_id=None)`: the
  message as Binary (str is accepted too, as Odoo does: the type that
  arrived is recorded), a duplicate Message-ID answers False, a bounce
  (Odoo's _detect_is_bounce: To is the bounce address, From MAILER-DAEMON,
  multipart/report) is recorded and answers False, mail to an Odoo alias
  (ODOO_ALIASES) or with a model makes a record and answers its id, else
  ValueError "No possible route found ...", and an unknown model
  "Mailbox unavailable - unknown target model".
- Faults as Odoo's xmlrpc_handle_exception_int: AccessDenied 3,
  AccessError 4, UserError 2, anything else 1 with the traceback as the
  fault string. HTTP 200 either way.

Control (JSON, on its own port): GET /received (every message_process
call: the raw bytes as base64, the type that arrived, the arguments, the
answer), POST /mode {mode, times?, delay?}, POST /reset. Modes: ok; down
(the API port refuses connections until the mode changes); http502 (an
nginx-style 502 page); slow (execute_kw answers `delay` seconds late,
after doing the work); fault_access (execute_kw raises AccessDenied); fault_serialization
(a PostgreSQL serialization failure, fault 1); garbage (200 with HTML).
`times` limits the mode to that many API requests, then it is ok again.
"""

import base64
import email
import email.policy
import email.utils
import json
import sys
import threading
import time
import traceback
import xmlrpc.client
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DB = "odoo_test"
LOGIN = "mailgate@example.com"
API_KEY = sys.argv[1] if len(sys.argv) > 1 else "0123456789abcdef0123456789abcdef01234567"
UID = 7
ODOO_ALIASES = {"sales", "support", "jobs"}
ODOO_BOUNCE_ALIAS = "bounce"
MODELS = {"crm.lead", "helpdesk.ticket", "res.partner"}


# Odoo's exceptions, named as Odoo's tracebacks name them.
class AccessDenied(Exception):
    def __init__(self, message="Access Denied"):
        super().__init__(message)


AccessDenied.__module__ = "odoo.exceptions"


class OperationalError(Exception):
    pass


OperationalError.__module__ = "psycopg2"


class SerializationFailure(Exception):
    pass


SerializationFailure.__module__ = "psycopg2.errors"


state_lock = threading.Lock()
state = {"mode": "ok", "times": None, "delay": 0, "received": [], "message_ids": set(), "next_id": 1000}


def reset():
    with state_lock:
        state.update(mode="ok", times=None, delay=0, received=[], message_ids=set(), next_id=1000)


def take_mode():
    """The mode for this request; a limited mode counts down to ok."""
    with state_lock:
        mode = state["mode"]
        if state["times"] is not None:
            state["times"] -= 1
            if state["times"] <= 0:
                state.update(mode="ok", times=None)
        return mode


def check_db(db):
    if db != DB:
        raise OperationalError(f'connection to server on socket "/var/run/postgresql/.s.PGSQL.5432" failed: FATAL:  database "{db}" does not exist')


def authenticate(db, login, password, user_agent_env):
    check_db(db)
    if not isinstance(user_agent_env, dict):
        raise TypeError("user_agent_env must be a dict")
    return UID if (login == LOGIN and password == API_KEY) else False


def addresses(value):
    return [addr.lower() for _, addr in email.utils.getaddresses([value or ""])]


def original_of(message):
    """What Odoo's _message_parse_extract_bounce reads: the embedded original's Message-Id, and the DSN's Final-Recipient."""
    original, recipient = None, None
    for part in message.walk():
        ctype = part.get_content_type()
        if original is None and ctype == "message/rfc822":
            payload = part.get_payload()
            if payload:
                original = payload[0].get("Message-Id")
        elif original is None and ctype == "text/rfc822-headers":
            original = email.message_from_string(part.get_content()).get("Message-Id")
        elif recipient is None and ctype == "message/delivery-status":
            blocks = part.get_payload()
            for block in blocks[1:] if len(blocks) > 1 else blocks:
                final = block.get("Final-Recipient")
                if final and ";" in final:
                    recipient = final.split(";", 1)[1].strip().lower()
                    break
    return original, recipient


def remember(message_id):
    with state_lock:
        if message_id:
            state["message_ids"].add(message_id)


def message_process(model, message, custom_values=None, save_original=False, strip_attachments=False, thread_id=None):
    kind = type(message).__name__
    if isinstance(message, xmlrpc.client.Binary):
        raw = bytes(message.data)
    elif isinstance(message, str):
        raw = message.encode("utf-8")
    else:
        raise TypeError(f"message must be Binary or str, not {kind}")
    parsed = email.message_from_bytes(raw, policy=email.policy.SMTP)
    message_id = (parsed.get("Message-Id") or "").strip()
    record = {
        "raw": base64.b64encode(raw).decode(),
        "type": kind,
        "model": model,
        "custom_values": custom_values,
        "save_original": save_original,
        "strip_attachments": strip_attachments,
        "thread_id": thread_id,
        "message_id": message_id,
        "bounce": None,
        "result": None,
    }
    with state_lock:
        state["received"].append(record)
        # message_process: a Message-ID Odoo already has is ignored.
        if message_id and message_id in state["message_ids"]:
            record["result"] = False
            return False
    to = addresses(parsed.get("To")) + addresses(parsed.get("Delivered-To"))
    sender = addresses(parsed.get("From"))
    ctype = parsed.get_content_type()
    is_bounce = (
        any(a.split("@")[0] == ODOO_BOUNCE_ALIAS for a in to)
        or (sender and sender[0].split("@")[0] == "mailer-daemon")
        or ctype == "multipart/report"
        or "report-type=delivery-status" in (parsed.get("Content-Type") or "")
    )
    # A fault rolls Odoo's transaction back: only a message it took is remembered.
    if is_bounce:
        original, recipient = original_of(parsed)
        record["bounce"] = {"original_message_id": original, "recipient": recipient}
        record["result"] = False
        remember(message_id)
        return False
    if model:
        if model not in MODELS:
            raise ValueError(f"Mailbox unavailable - unknown target model {model}")
    elif not any(a.split("@")[0] in ODOO_ALIASES for a in to):
        raise ValueError(
            "No possible route found for incoming message from %s to %s (Message-Id %s:). "
            "Create an appropriate mail.alias or force the destination model." % (parsed.get("From"), parsed.get("To"), message_id)
        )
    remember(message_id)
    with state_lock:
        if thread_id:
            result = thread_id
        else:
            result = state["next_id"]
            state["next_id"] += 1
    record["result"] = result
    return result


def execute_kw(db, uid, password, model, method, args, kwargs=None):
    check_db(db)
    if uid != UID or password != API_KEY:
        raise AccessDenied()
    if take_mode_flag("fault_access"):
        raise AccessDenied()
    if take_mode_flag("fault_serialization"):
        raise SerializationFailure("could not serialize access due to concurrent update")
    if model != "mail.thread":
        raise KeyError(model)
    if method != "message_process":
        raise AttributeError(f"The method '{method}' does not exist on the model '{model}'")
    return message_process(*args, **(kwargs or {}))


current_mode = threading.local()


def take_mode_flag(name):
    return getattr(current_mode, "mode", "ok") == name


SERVICES = {"/xmlrpc/2/common": {"authenticate": authenticate}, "/xmlrpc/2/object": {"execute_kw": execute_kw}}


def odoo_dumps(params):
    """Odoo's rpc.dumps: the marshalled params or fault inside a methodResponse."""
    body = xmlrpc.client.Marshaller(allow_none=False).dumps(params)
    return f'<?xml version="1.0"?>\n<methodResponse>\n{body}\n</methodResponse>\n'


def fault_of(error):
    """Odoo's xmlrpc_handle_exception_int."""
    if isinstance(error, AccessDenied):
        return xmlrpc.client.Fault(3, str(error))
    return xmlrpc.client.Fault(1, "".join(traceback.format_exception(type(error), error, error.__traceback__)))


class OdooHandler(BaseHTTPRequestHandler):
    # One request a connection, as Python's own XML-RPC server: "down" then refuses every new request.
    protocol_version = "HTTP/1.0"

    def log_message(self, *args):
        pass

    def answer(self, status, body, ctype="text/xml"):
        data = body.encode()
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        length = int(self.headers.get("Content-Length") or 0)
        data = self.rfile.read(length)
        mode = take_mode()
        current_mode.mode = mode
        if mode == "http502":
            return self.answer(502, "<html><head><title>502 Bad Gateway</title></head><body><center><h1>502 Bad Gateway</h1></center><hr><center>nginx</center></body></html>\n", "text/html")
        if mode == "garbage":
            return self.answer(200, "<html><body>Odoo is starting, please wait</body></html>", "text/html")
        service = SERVICES.get(self.path)
        if service is None:
            return self.answer(404, "<!doctype html><title>404: Not Found</title>", "text/html")
        try:
            params, method = xmlrpc.client.loads(data, use_datetime=True)
            if method not in service:
                raise KeyError(method)
            response = odoo_dumps((service[method](*params),))
        except Exception as error:
            response = odoo_dumps(fault_of(error))
        if mode == "slow" and self.path == "/xmlrpc/2/object":
            time.sleep(state["delay"])
        self.answer(200, response)


class ControlHandler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def answer(self, value):
        data = json.dumps(value).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        if self.path == "/received":
            with state_lock:
                return self.answer(state["received"])
        self.send_error(404)

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
        if self.path == "/reset":
            reset()
            api.up()
            return self.answer({"ok": True})
        if self.path == "/mode":
            with state_lock:
                state.update(mode=body["mode"], times=body.get("times"), delay=body.get("delay", 0))
            if body["mode"] == "down":
                api.down()
            else:
                api.up()
            return self.answer({"ok": True})
        self.send_error(404)


class Api:
    """The XML-RPC port; `down` closes its socket (connections are refused) and `up` opens it again on the same port."""

    def __init__(self):
        self.lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), OdooHandler)
        self.port = self.server.server_address[1]
        self.start()

    def start(self):
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def down(self):
        with self.lock:
            if self.server is None:
                return
            self.server.shutdown()
            self.server.server_close()
            self.server = None

    def up(self):
        with self.lock:
            if self.server is not None:
                return
            self.server = ThreadingHTTPServer(("127.0.0.1", self.port), OdooHandler)
            self.start()


api = Api()
control = ThreadingHTTPServer(("127.0.0.1", 0), ControlHandler)
print(json.dumps({"api": api.port, "control": control.server_address[1], "db": DB, "login": LOGIN, "api_key": API_KEY}), flush=True)
control.serve_forever()
