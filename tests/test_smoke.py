def test_file_report_opens_case(api, report_body):
    response = api.post("/api/v1/reports", report_body(), format="json")
    assert response.status_code == 201, response.content
    assert response.json()["case"]["report_count"] == 1
