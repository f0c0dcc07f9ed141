// Simplified Chinese and English. The choice is remembered in
// localStorage; the first visit follows the browser's language.

import { useEffect, useState } from "preact/hooks";

/** The languages the UI speaks. */
export type Lang = "en" | "zh";

const en = {
  "app.name": "Zhishu",
  "app.tagline": "Answers from your company's documents, cited to the page.",
  "nav.chat": "Chat",
  "nav.library": "Library",
  "nav.console": "Compliance",
  "nav.signout": "Sign out",
  "nav.language": "Language",
  "nav.main": "Main navigation",
  "login.title": "Sign in",
  "login.username": "Username",
  "login.password": "Password",
  "login.submit": "Sign in",
  "login.sso": "Sign in with single sign-on",
  "login.failed": "Sign-in failed",
  "sso.denied": "Single sign-on was cancelled or refused by your identity provider.",
  "sso.disabled": "Your account is disabled. Ask an administrator.",
  "sso.local": "A local account with a password already has your name; single sign-on cannot use it. Ask an administrator.",
  "sso.failed": "Single sign-on failed. Try again, or ask an administrator to check the audit trail.",
  "chat.conversations": "Conversations",
  "chat.new": "New chat",
  "chat.empty": "Ask a question about your documents.",
  "chat.none": "No conversations yet.",
  "chat.placeholder": "Ask a question… (Enter to send, Shift+Enter for a new line)",
  "chat.question": "Your question",
  "chat.send": "Send",
  "chat.stop": "Stop",
  "chat.thinking": "Think first",
  "chat.reasoning": "Thinking",
  "chat.sources": "Sources",
  "chat.nosources": "No document was used for this answer.",
  "chat.you": "You",
  "chat.assistant": "Zhishu",
  "chat.stopped": "Stopped.",
  "chat.cite": "Source {n}",
  "chat.truncated": "The answer reached its length limit.",
  "chat.filtered": "The content filter stopped this answer.",
  "cite.title": "Source",
  "cite.close": "Close",
  "cite.page": "Page",
  "cite.section": "Section",
  "cite.path": "File",
  "cite.passage": "Passage",
  "cite.matched": "matched to the answer afterwards",
  "cite.download": "Download the original file",
  "cite.pageimage": "Page {page} with the passage marked",
  "error.rate": "Too many requests. Retry in {s} s.",
  "error.busy": "The service is unavailable",
  "error.auth": "Your session has ended. Sign in again.",
  "error.forbidden": "Not allowed",
  "error.network": "The server cannot be reached.",
  "error.generic": "Something went wrong",
  "library.title": "Library",
  "library.ingest": "Ingest a folder",
  "library.path": "Folder on the server",
  "library.collection": "Collection",
  "library.groups": "Access groups (comma-separated)",
  "library.start": "Start ingestion",
  "library.progress": "Progress",
  "library.files": "{done} of {total} files",
  "library.chunks": "{n} chunks",
  "library.skipped": "{n} skipped",
  "library.failed": "{n} failed",
  "library.finished": "Finished: {status}",
  "library.errors": "Files that failed",
  "library.flagged": "Flagged",
  "library.flagged.title": "The document guard found: {notes}",
  "library.documents": "Documents",
  "library.all": "All collections",
  "library.filter": "Collection filter",
  "library.empty": "No documents yet.",
  "library.col.title": "Title",
  "library.col.collection": "Collection",
  "library.col.groups": "Groups",
  "library.col.status": "Status",
  "library.col.version": "Version",
  "library.col.updated": "Updated",
  "library.delete": "Delete",
  "library.confirm": "Delete “{title}” from every store?",
  "library.deleted": "Deleted “{title}”.",
  "library.refresh": "Refresh",
  "console.title": "Audit trail",
  "console.user": "User",
  "console.action": "Action",
  "console.outcome": "Outcome",
  "console.any": "Any",
  "console.from": "From",
  "console.to": "To",
  "console.text": "Text",
  "console.guard": "Guard rule",
  "console.guard.hint": "pii.cn_id, injection., *",
  "console.search": "Search",
  "console.more": "Load more",
  "console.export": "Export",
  "console.verify": "Verify integrity",
  "console.verified": "Chain intact: {n} events checked; last hash {hash}.",
  "console.broken": "Chain broken at event #{seq} ({kind}): {detail}",
  "console.legacy": "{n} of them were written by an earlier version in the legacy encoding and re-verified with it.",
  "console.none": "No events match.",
  "console.col.time": "Time",
  "console.col.question": "Question / detail",
  "console.detail": "Event",
  "console.question": "Question",
  "console.answer": "Answer",
  "console.sources": "Retrieved sources",
  "console.citations": "Citations",
  "console.policy": "Policy decisions",
  "console.hashes": "Hashes",
  "console.model": "Model",
  "console.usage": "Tokens",
  "console.latency": "Latency",
  "console.error": "Error",
  "console.prompt": "Prompt",
  "console.score": "Score",
  "console.document": "Document",
  "console.chunk": "Chunk",
  "console.page": "Page",
  "console.version": "Version",
  "console.read": "Read",
  "console.passage": "Passage as retrieved",
  "forbidden.title": "Not available",
  "forbidden.body": "Your role does not give access to this page.",
  "status.indexed": "indexed",
  "status.pending": "pending",
  "status.failed": "failed",
  "status.succeeded": "succeeded",
  "status.cancelled": "cancelled",
};

type Key = keyof typeof en;

const zh: Record<Key, string> = {
  "app.name": "知枢",
  "app.tagline": "从公司文档中作答，并注明出处页码。",
  "nav.chat": "问答",
  "nav.library": "文档库",
  "nav.console": "合规审计",
  "nav.signout": "退出登录",
  "nav.language": "语言",
  "nav.main": "主导航",
  "login.title": "登录",
  "login.username": "用户名",
  "login.password": "密码",
  "login.submit": "登录",
  "login.sso": "单点登录",
  "login.failed": "登录失败",
  "sso.denied": "身份提供方取消或拒绝了单点登录。",
  "sso.disabled": "您的账户已停用，请联系管理员。",
  "sso.local": "已有同名的本地密码账户，无法通过单点登录使用，请联系管理员。",
  "sso.failed": "单点登录失败。请重试，或请管理员查看审计日志。",
  "chat.conversations": "会话",
  "chat.new": "新建会话",
  "chat.empty": "就您的文档提一个问题。",
  "chat.none": "还没有会话。",
  "chat.placeholder": "输入问题……（回车发送，Shift+回车换行）",
  "chat.question": "您的问题",
  "chat.send": "发送",
  "chat.stop": "停止",
  "chat.thinking": "先思考",
  "chat.reasoning": "思考过程",
  "chat.sources": "来源",
  "chat.nosources": "此回答未使用任何文档。",
  "chat.you": "您",
  "chat.assistant": "知枢",
  "chat.stopped": "已停止。",
  "chat.cite": "来源 {n}",
  "chat.truncated": "回答已达到长度上限。",
  "chat.filtered": "内容过滤已停止此回答。",
  "cite.title": "来源",
  "cite.close": "关闭",
  "cite.page": "页码",
  "cite.section": "章节",
  "cite.path": "文件",
  "cite.passage": "原文段落",
  "cite.matched": "事后与回答内容匹配",
  "cite.download": "下载原始文件",
  "cite.pageimage": "第 {page} 页，引用段落已标出",
  "error.rate": "请求过于频繁，请在 {s} 秒后重试。",
  "error.busy": "服务暂不可用",
  "error.auth": "会话已结束，请重新登录。",
  "error.forbidden": "无权访问",
  "error.network": "无法连接服务器。",
  "error.generic": "出错了",
  "library.title": "文档库",
  "library.ingest": "导入文件夹",
  "library.path": "服务器上的文件夹",
  "library.collection": "集合",
  "library.groups": "访问组（以逗号分隔）",
  "library.start": "开始导入",
  "library.progress": "进度",
  "library.files": "已处理 {done} / {total} 个文件",
  "library.chunks": "{n} 个片段",
  "library.skipped": "跳过 {n} 个",
  "library.failed": "失败 {n} 个",
  "library.finished": "已结束：{status}",
  "library.errors": "失败的文件",
  "library.flagged": "已标记",
  "library.flagged.title": "文档防护发现：{notes}",
  "library.documents": "文档",
  "library.all": "全部集合",
  "library.filter": "按集合筛选",
  "library.empty": "还没有文档。",
  "library.col.title": "标题",
  "library.col.collection": "集合",
  "library.col.groups": "访问组",
  "library.col.status": "状态",
  "library.col.version": "版本",
  "library.col.updated": "更新时间",
  "library.delete": "删除",
  "library.confirm": "从所有存储中删除“{title}”？",
  "library.deleted": "已删除“{title}”。",
  "library.refresh": "刷新",
  "console.title": "审计日志",
  "console.user": "用户",
  "console.action": "操作",
  "console.outcome": "结果",
  "console.any": "全部",
  "console.from": "起始时间",
  "console.to": "结束时间",
  "console.text": "文本",
  "console.guard": "防护规则",
  "console.guard.hint": "pii.cn_id、injection.、*",
  "console.search": "查询",
  "console.more": "加载更多",
  "console.export": "导出",
  "console.verify": "校验完整性",
  "console.verified": "哈希链完整：已校验 {n} 条事件，最新哈希 {hash}。",
  "console.broken": "哈希链在第 {seq} 条事件处断裂（{kind}）：{detail}",
  "console.legacy": "其中 {n} 条由旧版本以旧编码写入，已按旧编码重新校验。",
  "console.none": "没有匹配的事件。",
  "console.col.time": "时间",
  "console.col.question": "问题 / 详情",
  "console.detail": "事件",
  "console.question": "问题",
  "console.answer": "回答",
  "console.sources": "检索到的来源",
  "console.citations": "引用",
  "console.policy": "策略决定",
  "console.hashes": "哈希",
  "console.model": "模型",
  "console.usage": "令牌数",
  "console.latency": "耗时",
  "console.error": "错误",
  "console.prompt": "提示词",
  "console.score": "得分",
  "console.document": "文档",
  "console.chunk": "片段",
  "console.page": "页",
  "console.version": "版本",
  "console.read": "查看",
  "console.passage": "检索到的原文段落",
  "forbidden.title": "无法访问",
  "forbidden.body": "您的角色无权访问此页面。",
  "status.indexed": "已索引",
  "status.pending": "处理中",
  "status.failed": "失败",
  "status.succeeded": "成功",
  "status.cancelled": "已取消",
};

const STORE_KEY = "zhishu.lang";
const listeners = new Set<(l: Lang) => void>();

function initial(): Lang {
  const saved = localStorage.getItem(STORE_KEY);
  if (saved === "en" || saved === "zh") return saved;
  return navigator.language.toLowerCase().startsWith("zh") ? "zh" : "en";
}

let current: Lang = initial();
document.documentElement.lang = current === "zh" ? "zh-CN" : "en";

/** Switches the language everywhere and remembers it. */
export function setLang(lang: Lang) {
  current = lang;
  localStorage.setItem(STORE_KEY, lang);
  document.documentElement.lang = lang === "zh" ? "zh-CN" : "en";
  listeners.forEach((l) => l(lang));
}

/** The current language. */
export function lang(): Lang {
  return current;
}

/** Translates a key, filling `{name}` placeholders. */
export function t(key: Key, vars: Record<string, string | number> = {}): string {
  const table = current === "zh" ? zh : en;
  return table[key].replace(/\{(\w+)\}/g, (_, name) => String(vars[name] ?? ""));
}

/** Re-renders the calling component when the language changes. */
export function useLang(): Lang {
  const [value, set] = useState(current);
  useEffect(() => {
    listeners.add(set);
    return () => {
      listeners.delete(set);
    };
  }, []);
  return value;
}

/** A time for people: local date and time in the current language. */
export function formatTime(ms: number | string): string {
  const d = typeof ms === "number" ? new Date(ms) : new Date(ms);
  return d.toLocaleString(current === "zh" ? "zh-CN" : "en-GB", {
    dateStyle: "short",
    timeStyle: "medium",
  });
}
