// Entry point of every UI page: the server names the page in <body data-page>.

import { page } from "./common.js";
import * as lists from "./lists.js";
import * as session from "./session.js";
import * as log from "./log.js";

const main = document.getElementById("main");
switch (page.kind) {
  case "lists":
    lists.start(main);
    break;
  case "session":
    session.start(main, page.id);
    break;
  case "session-log":
    log.start(main, "session", page.id);
    break;
  case "batch-log":
    log.start(main, "batch", page.id);
    break;
  default:
    main.textContent = "Unknown page.";
}
