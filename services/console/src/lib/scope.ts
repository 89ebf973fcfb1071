"use client";

// The project a page shows and the token and paths to read it with: a project
// key reads its own project through `/v1`, an admin token any project through
// `/admin/projects/{id}`.
import type { Credentials } from "./auth";

export type ProjectScope = {
  token: string;
  projectId: string;
  budgetPath: string;
  analyticsPath: string;
  requestsPath: string;
};

export function projectScope(credentials: Credentials, selectedProject: string | null): ProjectScope | null {
  const { adminToken, projectKey, projectId } = credentials;
  if (projectKey && projectId && (!adminToken || !selectedProject || selectedProject === projectId)) {
    return { token: projectKey, projectId, budgetPath: "/v1/budget", analyticsPath: "/v1/analytics", requestsPath: "/v1/requests" };
  }
  if (adminToken && selectedProject) {
    const base = `/admin/projects/${encodeURIComponent(selectedProject)}`;
    return {
      token: adminToken,
      projectId: selectedProject,
      budgetPath: `${base}/budget`,
      analyticsPath: `${base}/analytics`,
      requestsPath: `${base}/requests`,
    };
  }
  return null;
}
