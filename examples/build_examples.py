"""Writes examples/episodes.jsonl: 36 episodes in the canonical format, three agents
(a web-shop agent, a customer-support tool agent, a coding agent in a shell), successes and
failures with the mistakes such agents really make. Re-run to regenerate; output is stable.

    python examples/build_examples.py
"""

from __future__ import annotations

import json
from pathlib import Path

OUT = Path(__file__).with_name("episodes.jsonl")

SHOP = [  # (instruction, query, asin, title, price, options, success, mistake)
    ("i need a waterproof rain jacket for men in navy, size large, under 60 dollars",
     "waterproof rain jacket men navy", "B07XK2LQ9M", "Stormline Men's Waterproof Rain Jacket",
     "$45.99", ["navy", "large"], True, None),
    ("find me a stainless steel water bottle, 32 oz, price lower than 25.00 dollars",
     "stainless steel water bottle 32 oz", "B08F7PTF9Y", "HydroPeak Insulated Bottle 32oz",
     "$19.95", ["32 oz"], True, None),
    ("i want vegan protein bars, chocolate flavor, pack of 12, under 30 dollars",
     "vegan protein bars chocolate", "B01MZ3QJ5K", "GreenFuel Vegan Protein Bar Chocolate",
     "$24.50", ["chocolate", "pack of 12"], True, None),
    ("i need a wireless ergonomic mouse in black under 40 dollars",
     "wireless ergonomic mouse black", "B09TQ4H1RW", "ErgoGlide Wireless Vertical Mouse",
     "$32.99", ["black"], True, None),
    ("looking for an organic green tea, 100 bags, price lower than 15.00 dollars",
     "organic green tea 100 bags", "B00KQ7X3ZA", "Leafwise Organic Green Tea 100 ct",
     "$12.49", ["100 count"], True, None),
    ("i need a queen size bamboo bed sheet set in grey, under 80 dollars",
     "bamboo bed sheet queen grey", "B07PHW3ZNY", "CoolNest Bamboo Sheet Set",
     "$69.00", ["queen", "grey"], True, None),
    ("find a noise cancelling usb microphone under 50 dollars",
     "noise cancelling usb microphone", "B0972Q1T8T", "Cosycost USB Condenser Microphone",
     "$32.99", [], True, None),
    ("i want a long clip-in hair extension, natural black, price lower than 20.00 dollars",
     "long clip-in hair extension natural black", "B08H5DCD65", "Corn Wave Ponytail Extension",
     "$9.98", ["natural black #1b"], True, None),
    ("i need a scented soy candle, lavender, pack of 2, under 25 dollars",
     "scented soy candle lavender", "B07QK2RZ4S", "Hearthglow Lavender Soy Candle",
     "$21.99", ["lavender", "pack of 2"], False, "buy_without_option"),
    ("i want a foldable yoga mat, purple, under 35 dollars",
     "foldable yoga mat purple", "B08L5M1T6Q", "FlexFold Travel Yoga Mat", "$29.90",
     ["purple"], False, "add_to_cart"),
    ("i need gluten free pasta, penne, pack of 6, under 20 dollars",
     "gluten free penne pasta pack of 6", "B01N9KZ0ZP", "Barilla Gluten Free Penne", "$17.34",
     ["pack of 6"], False, "search_loop"),
    ("find a rechargeable led desk lamp with usb port under 40 dollars",
     "rechargeable led desk lamp usb", "B09B2SBHQK", "Lumen Rechargeable Desk Lamp",
     "$36.99", [], False, "over_budget"),
]

SUPPORT = [  # (user, request, order, tools, success, failure)
    ("mia_li_3668", "cancel order #W4073673 because it was ordered by mistake", "#W4073673",
     ["find_user_id_by_email", "get_order_details", "cancel_pending_order"], True, None),
    ("noah_brown_6181", "return the hiking boots from order #W7678072, they are too small",
     "#W7678072", ["find_user_id_by_name_zip", "get_order_details", "return_delivered_order_items"],
     True, None),
    ("ava_moore_2033", "change the shipping address of order #W8327915 to 123 Elm St, Austin TX",
     "#W8327915", ["find_user_id_by_email", "get_order_details", "modify_pending_order_address"],
     True, None),
    ("liam_khan_2521", "exchange the blue t-shirt in order #W3734939 for a red one",
     "#W3734939", ["find_user_id_by_email", "get_order_details", "get_product_details",
                   "exchange_delivered_order_items"], True, None),
    ("zoe_patel_9145", "cancel order #W9348897, it has not shipped yet", "#W9348897",
     ["find_user_id_by_name_zip", "get_order_details", "cancel_pending_order"], True, None),
    ("omar_silva_7701", "refund order #W5500147 to my gift card", "#W5500147",
     ["find_user_id_by_email", "get_order_details", "return_delivered_order_items"], True, None),
    ("ivan_ross_1204", "cancel order #W6619310, I changed my mind", "#W6619310",
     ["find_user_id_by_email", "cancel_pending_order"], False, "delivered"),
    ("sara_cho_5583", "change the address on order #W2288016", "#W2288016",
     ["get_order_details", "modify_pending_order_address"], False, "no_auth"),
    ("lena_ward_3390", "return the lamp from order #W1044872", "#W1044872",
     ["find_user_id_by_email", "get_order_details", "return_delivered_order_items"], False,
     "bad_item"),
    ("yuki_mori_8812", "cancel order #W7730045 please", "#W7730045",
     ["find_user_id_by_email", "get_order_details", "cancel_pending_order"], False, "delivered"),
    ("ben_oduya_4420", "exchange the keyboard in order #W3391027 for the wireless model",
     "#W3391027", ["find_user_id_by_email", "get_order_details", "exchange_delivered_order_items"],
     True, None),
    ("chen_wei_6604", "cancel order #W8801963, the price dropped", "#W8801963",
     ["find_user_id_by_name_zip", "get_order_details", "cancel_pending_order"], True, None),
]

CODE = [  # (repo, issue, file, test, success, failure)
    ("requests", "Session.get drops the timeout argument when retries are enabled",
     "src/requests/sessions.py", "tests/test_sessions.py", True, None),
    ("flask", "url_for raises BuildError for blueprints with a trailing slash",
     "src/flask/helpers.py", "tests/test_helpers.py", True, None),
    ("pydicom", "pixel_array fails for Float Pixel Data without Pixel Representation",
     "src/pydicom/pixel_data_handlers/numpy_handler.py", "tests/test_numpy_pixel_data.py",
     True, None),
    ("attrs", "evolve() loses private attribute values", "src/attr/_make.py",
     "tests/test_funcs.py", True, None),
    ("click", "option with multiple=True ignores envvar defaults", "src/click/core.py",
     "tests/test_options.py", True, None),
    ("httpx", "Response.json() ignores the charset in the content type", "httpx/_models.py",
     "tests/models/test_responses.py", False, "edit_syntax"),
    ("rich", "Table column width ignores emoji in headers", "rich/table.py",
     "tests/test_table.py", False, "wrong_file_loop"),
    ("jinja", "async for loops lose loop.index after break", "src/jinja2/compiler.py",
     "tests/test_async.py", False, "no_tests"),
    ("marshmallow", "Nested field ignores load_only in many=True", "src/marshmallow/fields.py",
     "tests/test_fields.py", True, None),
    ("tqdm", "tqdm.write breaks nested bars in notebooks", "tqdm/std.py", "tests/tests_tqdm.py",
     True, None),
    ("arrow", "humanize returns 'instantly' for future dates", "arrow/arrow.py",
     "tests/test_arrow.py", False, "edit_syntax"),
    ("black", "magic trailing comma ignored in return annotations", "src/black/linegen.py",
     "tests/test_black.py", True, None),
]


def step(obs: str, name: str, args: dict, result: str, raw: str | None = None,
         error: bool = False, thought: str | None = None) -> dict:
    s = {"observation": obs, "action": {"name": name, "arguments": args}, "result": result}
    if raw:
        s["action"]["raw"] = raw
    if error:
        s["error"] = True
    if thought:
        s["thought"] = thought
    return s


def shop(i: int, spec: tuple) -> dict:
    instr, query, asin, title, price, options, success, mistake = spec
    home = f"WebShop\nInstruction:\n{instr}\n[Search]"
    results = (f"[Back to Search]\nPage 1 (Total results: 50)\n[Next >]\n[{asin}]\n{title}\n{price}\n"
               f"[B0{i}QZX81LM]\nGeneric alternative to {title.split()[1]}\n$89.00")
    opts = " ".join(f"[{o}]" for o in options) or ""
    item = (f"[Back to Search]\n[< Prev]\n{('options ' + opts) if opts else ''}\n{title}\n"
            f"Price: {price}\nRating: N.A.\n[Description]\n[Features]\n[Reviews]\n[Buy Now]")
    steps = [step(home, "search", {"query": query}, results, f"search[{query}]")]
    if mistake == "search_loop":
        steps += [step(results, "search", {"query": query}, "Invalid action!", f"search[{query}]",
                       error=True),
                  step("Invalid action!", "search", {"query": query}, "Invalid action!",
                       f"search[{query}]", error=True)]
        return _ep(f"shop-{i}", "webshop-react", instr, steps, False, 0.0)
    steps.append(step(results, "think", {"thought": f"{asin} matches and is within budget."},
                      "OK.", f"think[{asin} matches and is within budget.]"))
    steps.append(step("OK.", "click", {"item": asin}, item, f"click[{asin}]"))
    obs = item
    chosen = options if mistake != "buy_without_option" else []
    for o in chosen:
        res = f"You have clicked {o}."
        steps.append(step(obs, "click", {"item": o}, res, f"click[{o}]"))
        obs = res
    if mistake == "add_to_cart":
        steps.append(step(obs, "click", {"item": "Add to Cart"}, "Invalid action!",
                          "click[Add to Cart]", error=True))
        return _ep(f"shop-{i}", "webshop-react", instr, steps, False, 0.0)
    reward = 1.0 if success else (0.5 if mistake == "buy_without_option" else 0.25)
    steps.append(step(obs, "click", {"item": "Buy Now"}, f"Your score (min 0.0, max 1.0): {reward}",
                      "click[Buy Now]"))
    return _ep(f"shop-{i}", "webshop-react", instr, steps, success, reward)


def support(i: int, spec: tuple) -> dict:
    user, request, order, tools, success, failure = spec
    obs = f"user: Hi, I'm {user.split('_')[0].title()}. I want to {request}."
    steps = []
    status = "delivered" if failure == "delivered" else "pending"
    for tool in tools:
        if tool.startswith("find_user"):
            args, res = ({"email": f"{user}@example.com"} if "email" in tool else
                         {"first_name": user.split("_")[0], "zip": "78701"}), user
        elif tool == "get_order_details":
            args = {"order_id": order}
            res = json.dumps({"order_id": order, "user_id": user, "status": status,
                              "items": [{"item_id": "4107812777", "name": "T-Shirt",
                                         "price": 53.19}]})
        elif tool == "get_product_details":
            args, res = {"product_id": "9523456873"}, json.dumps(
                {"name": "T-Shirt", "variants": {"9354168549": {"color": "red", "available": True}}})
        else:
            args = {"order_id": order}
            if failure == "delivered" and tool == "cancel_pending_order":
                res = "Error: non-pending order cannot be cancelled"
            elif failure == "no_auth":
                res = "Error: user not authenticated; look up the user first"
            elif failure == "bad_item":
                args["item_ids"] = ["1111111111"]
                res = "Error: some item not found in the order"
            else:
                res = json.dumps({"order_id": order, "status": "cancelled" if "cancel" in tool
                                  else "return requested" if "return" in tool
                                  else "exchange requested" if "exchange" in tool else "modified"})
        err = res.startswith("Error")
        steps.append(step(obs, tool, args, res, error=err))
        obs = f"tool: {res}"
    return _ep(f"support-{i}", "retail-tool-agent", request, steps, success, 1.0 if success else 0.0)


def code(i: int, spec: tuple) -> dict:
    repo, issue, path, test, success, failure = spec
    cmds = [("find_file", f"find_file {path.rsplit('/', 1)[-1]}", f"Found 1 matches: /{repo}/{path}"),
            ("open", f"open {path}", f"[File: /{repo}/{path} (812 lines total)]\n1:import os\n2:..."),
            ("search_file", "search_file def ", f"Found 14 matches for \"def \" in /{repo}/{path}")]
    if failure == "wrong_file_loop":
        cmds += [("open", "open README.md", "[File: README.md (120 lines total)]")] * 3
    if failure == "edit_syntax":
        cmds.append(("edit", "edit 120:124\n    return value\n  end", "Your proposed edit has "
                     "introduced new syntax error(s): E999 IndentationError: unexpected indent"))
        cmds.append(("edit", "edit 120:124\n    return value\n  end", "Your proposed edit has "
                     "introduced new syntax error(s): E999 IndentationError: unexpected indent"))
    else:
        cmds.append(("edit", "edit 120:124\n        return value\nend_of_edit",
                     f"[File: /{repo}/{path} (813 lines total)]\nFile updated."))
    if failure != "no_tests":
        cmds.append(("pytest", f"pytest -q {test}", "12 passed in 0.84s" if success else
                     "1 failed, 11 passed in 0.91s\nFAILED test_regression - AssertionError"))
    cmds.append(("submit", "submit", "diff --git a/... (submitted)"))
    obs = f"We're currently solving the following issue within our repository ({repo}):\n{issue}"
    steps = []
    for name, command, res in cmds:
        err = "error" in res.lower() or "failed" in res.lower()
        args = {"command": command}
        steps.append(step(obs, name, args, res, raw=command, error=err))
        obs = res
    return _ep(f"code-{i}", "swe-shell-agent", f"{repo}: {issue}", steps, success, None)


def _ep(id_: str, agent: str, task: str, steps: list, success: bool, reward: float | None) -> dict:
    outcome = {"success": success}
    if reward is not None:
        outcome["reward"] = reward
    return {"id": id_, "agent": agent, "task": task, "steps": steps, "outcome": outcome,
            "metadata": {"source": "expgraph examples"}}


def main() -> None:
    eps = [shop(i, s) for i, s in enumerate(SHOP)] + [support(i, s) for i, s in enumerate(SUPPORT)]
    eps += [code(i, s) for i, s in enumerate(CODE)]
    with OUT.open("w", encoding="utf-8") as fh:
        for e in eps:
            fh.write(json.dumps(e) + "\n")
    print(f"wrote {len(eps)} episodes to {OUT}")


if __name__ == "__main__":
    main()
